//! The wire format between two routers inside one link: every stream ([`super::mux`]) starts with a
//! [`StreamHeader`] frame; the control stream then carries [`Control`] frames, a data stream
//! gets one [`DataReply`] frame back before the application bytes flow.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of JSON. JSON keeps the
//! protocol easy to inspect and to extend (unknown fields are ignored); frames are small and rare
//! next to the application bytes, which are never framed.

use std::collections::BTreeMap;
use std::io;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Version of this protocol, sent in [`Hello`]. A peer with another version is refused.
/// 2: streams of our multiplexer (`super::mux`); 1 was yamux.
pub const PROTOCOL_VERSION: u32 = 2;
/// Largest control frame accepted (an LSA of a site with many routing keys).
pub(crate) const MAX_CONTROL_FRAME: usize = 4 << 20;
/// Largest stream header or data reply accepted.
pub(crate) const MAX_HEADER_FRAME: usize = 64 << 10;
/// Hops a data stream may take before it is refused (guards against transient routing loops).
pub(crate) const MAX_HOPS: u8 = 32;

/// The first message on each side's control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Hello {
    /// Site id of the sender.
    pub site_id: String,
    /// Site name of the sender.
    pub site_name: String,
    /// Namespace of the sender.
    pub namespace: String,
    /// The dialer's Link name (empty from the accepting side).
    #[serde(default)]
    pub link_name: String,
    /// The sender's cost setting for this link (the accepting side sends 1).
    pub cost: u32,
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u32,
    /// How often the sender pings an idle link, in milliseconds (`super::keepalive`); older
    /// peers send none and ignore ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_ms: Option<u32>,
    /// The accepting side's key for data connections of this link (`super::lanes`); a dialer
    /// that wants only one connection, and older peers, ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane_key: Option<String>,
}

/// A link-state advertisement: what one site says about itself, flooded to every site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Lsa {
    /// Originating site.
    pub site_id: String,
    /// Its name.
    pub site_name: String,
    /// Its namespace.
    pub namespace: String,
    /// Increases with every new advertisement of the site (start time in ns plus a counter).
    pub seq: u64,
    /// Neighbour site id -> negotiated link cost.
    #[serde(default)]
    pub neighbours: BTreeMap<String, u32>,
    /// Routing keys of its connectors (sorted, unique).
    #[serde(default)]
    pub connectors: Vec<String>,
    /// Routing keys of its listeners (sorted, unique).
    #[serde(default)]
    pub listeners: Vec<String>,
}

/// A message on the control stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub(crate) enum Control {
    /// First message.
    Hello(Hello),
    /// The sender's cost setting for the link changed.
    Cost {
        /// The new setting.
        cost: u32,
    },
    /// A link-state advertisement (the sender's own or one it forwards).
    Lsa(Lsa),
    /// Keeps an idle link alive and proves the peer still answers.
    Ping,
    /// The sender ends the session, and says why (sent before it closes the connection, so the
    /// other side can report the real reason instead of "connection closed").
    Refuse {
        /// Why.
        reason: String,
    },
}

/// What a stream is for; the first frame of every stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub(crate) enum StreamHeader {
    /// The sender's control stream (one per side and link).
    Control,
    /// One application connection.
    Data(DataHeader),
}

/// Where a data stream goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DataHeader {
    /// Routing key of the listener that accepted the connection.
    pub routing_key: String,
    /// Site whose connector should take the connection.
    pub destination: String,
    /// Site whose listener accepted it.
    pub origin: String,
    /// Hops left.
    pub ttl: u8,
}

/// The answer to a data stream, sent once the destination connected to its target (or failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DataReply {
    /// `None` when connected; otherwise why not.
    #[serde(default)]
    pub error: Option<String>,
}

/// Writes one frame (does not flush).
pub(crate) async fn write_frame<W, T>(w: &mut W, msg: &T) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(|_| io::Error::other("frame too large"))?;
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf).await
}

/// Reads one frame of at most `max` bytes; `Ok(None)` on a clean end of stream before a frame.
pub(crate) async fn read_frame<R, T>(r: &mut R, max: usize) -> io::Result<Option<T>>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        let n = r.read(&mut len[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {len} bytes exceeds {max}")));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    serde_json::from_slice(&body).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(msg: T) {
        let mut buf = Vec::new();
        write_frame(&mut buf, &msg).await.expect("write");
        let mut r = &buf[..];
        let back: T = read_frame(&mut r, MAX_CONTROL_FRAME).await.expect("read").expect("a frame");
        assert_eq!(back, msg);
        assert!(read_frame::<_, T>(&mut r, MAX_CONTROL_FRAME).await.expect("eof").is_none());
    }

    #[tokio::test]
    async fn messages_round_trip() {
        let hello = Hello {
            site_id: "id-a".into(),
            site_name: "west".into(),
            namespace: "ns".into(),
            link_name: "to-east".into(),
            cost: 3,
            version: PROTOCOL_VERSION,
            keepalive_ms: Some(3_000),
            lane_key: Some("0f".repeat(16)),
        };
        round_trip(Control::Hello(hello)).await;
        round_trip(Control::Cost { cost: 9 }).await;
        round_trip(Control::Ping).await;
        round_trip(Control::Refuse { reason: "no".into() }).await;
        round_trip(Control::Lsa(Lsa {
            site_id: "a".into(),
            site_name: "west".into(),
            namespace: "ns".into(),
            seq: u64::MAX,
            neighbours: [("b".to_string(), 2)].into(),
            connectors: vec!["backend".into()],
            listeners: vec![],
        }))
        .await;
        round_trip(StreamHeader::Control).await;
        round_trip(StreamHeader::Data(DataHeader {
            routing_key: "k".into(),
            destination: "c".into(),
            origin: "a".into(),
            ttl: MAX_HOPS,
        }))
        .await;
        round_trip(DataReply { error: Some("refused".into()) }).await;
    }

    #[test]
    fn hellos_without_a_keepalive_still_decode() {
        // What a peer of the same protocol version without keep-alive announcements sends.
        let old = r#"{"type":"hello","siteId":"a","siteName":"w","namespace":"n","cost":1,"version":2}"#;
        let Control::Hello(h) = serde_json::from_str::<Control>(old).expect("decodes") else { panic!("a hello") };
        assert_eq!((h.keepalive_ms, h.version), (None, PROTOCOL_VERSION));
        let ours = serde_json::to_string(&Control::Hello(Hello { keepalive_ms: Some(3_000), ..h })).expect("json");
        assert!(ours.contains(r#""keepaliveMs":3000"#), "{ours}");
    }

    #[tokio::test]
    async fn bad_frames_are_errors_not_panics() {
        // Oversized length.
        let mut r: &[u8] = &[0xff, 0xff, 0xff, 0xff, b'{'];
        assert!(read_frame::<_, Control>(&mut r, MAX_HEADER_FRAME).await.is_err());
        // Truncated length and truncated body.
        let mut r: &[u8] = &[0, 0];
        assert!(read_frame::<_, Control>(&mut r, MAX_HEADER_FRAME).await.is_err());
        let mut r: &[u8] = &[0, 0, 0, 10, b'{'];
        assert!(read_frame::<_, Control>(&mut r, MAX_HEADER_FRAME).await.is_err());
        // Not JSON, and JSON of the wrong shape.
        let mut r: &[u8] = &[0, 0, 0, 3, 1, 2, 3];
        assert!(read_frame::<_, Control>(&mut r, MAX_HEADER_FRAME).await.is_err());
        let body = br#"{"type":"nope"}"#;
        let mut buf = (body.len() as u32).to_be_bytes().to_vec();
        buf.extend_from_slice(body);
        let mut r = &buf[..];
        assert!(read_frame::<_, Control>(&mut r, MAX_HEADER_FRAME).await.is_err());
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzzing::config())]

        /// Frames of any bytes: each message type decodes, errs or ends, never panics.
        #[test]
        fn fuzz_control_frames(data in crate::fuzzing::inputs("control-frames", 2048)) {
            fn drain<T: DeserializeOwned>(data: &[u8]) {
                let mut r = data;
                while let Ok(Some(_)) = futures::executor::block_on(read_frame::<_, T>(&mut r, MAX_HEADER_FRAME)) {}
            }
            drain::<Control>(&data);
            drain::<StreamHeader>(&data);
            drain::<DataReply>(&data);
        }
    }

    #[test]
    fn the_control_frame_seeds_replay() {
        for seed in crate::fuzzing::corpus("control-frames") {
            let mut r = &seed[..];
            let mut n = 0;
            while let Some(_msg) = futures::executor::block_on(read_frame::<_, Control>(&mut r, MAX_CONTROL_FRAME))
                .unwrap_or_else(|e| panic!("seed does not decode: {e}"))
            {
                n += 1;
            }
            assert!(n >= 1);
        }
    }
}
