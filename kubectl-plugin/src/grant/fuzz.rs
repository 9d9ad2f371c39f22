//! Fuzz target of the grant server's request path: raw bytes from a client go through hyper's
//! HTTP/1.1 parser and [`super::server::handle`] to the site's files (a real site directory with
//! one grant whose code the seeds know), over an in-memory connection. Whatever arrives, the
//! server answers with a status it documents or closes the connection; it never panics and
//! never counts a redemption it did not answer with 200.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use proptest::prelude::*;
use skupper_core::resources::{AccessGrant, Resource, Site, SiteSpec};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::server::{GrantContext, handle};
use crate::platform::local::grants::LocalGrantStore;
use crate::platform::local::{Changes, Home};
use skupper_router::fuzzing;

/// The code and uid the seeds in `tests/fuzz-corpus/grant-request` use.
const CODE: &str = "fuzzfuzzfuzzfuzzfuzzfuzz";
const UID: &str = "uid-1";

struct Fixture {
    base: std::path::PathBuf,
    home: Home,
    ctx: Arc<GrantContext<LocalGrantStore>>,
    rt: tokio::runtime::Runtime,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// A site "west" with link access and a grant of many redemptions.
fn site() -> Fixture {
    let base = std::env::temp_dir().join(format!("ks-grant-fuzz-{}", crate::platform::uuid_v4().expect("uuid")));
    let home = Home::at(base.clone(), "west");
    let mut c = Changes::default();
    let site = Site::new("west", SiteSpec { link_access: "default".into(), ..Default::default() });
    c.put_resource(&home, &Resource::Site(site)).expect("site");
    c.commit().expect("commit");
    let access = home.ensure_access(Some("127.0.0.1"), &[]).expect("access");
    home.site_ca("west").expect("site ca");
    let grant_ca = home.grant_ca().expect("grant ca");
    let mut grant = super::new_grant("west-g", UID, 1_000_000, skupper_core::duration::GoDuration::from_secs(3600));
    grant.spec.code = CODE.into();
    super::process(&mut grant, &access.grant_url_base(), &grant_ca.cert_pem, crate::platform::now_unix())
        .expect("process");
    let mut c = Changes::default();
    c.put_resource(&home, &Resource::AccessGrant(grant)).expect("grant");
    c.commit().expect("commit");
    let ctx = Arc::new(GrantContext::new(LocalGrantStore::new(home.clone()), crate::platform::now_unix));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    Fixture { base, home, ctx, rt }
}

fn redemptions(home: &Home) -> i64 {
    match crate::platform::local::read_resource_file(&home.resource_path(AccessGrant::KIND, "west-g")) {
        Ok(Resource::AccessGrant(g)) => g.status.redemptions,
        other => panic!("grant file: {other:?}"),
    }
}

/// Sends `request` on a fresh in-memory connection and returns everything the server wrote.
async fn exchange(ctx: Arc<GrantContext<LocalGrantStore>>, request: &[u8]) -> Vec<u8> {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let service = hyper::service::service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(handle(ctx, req).await) }
    });
    // The client half-closes after its bytes: hyper must still answer a complete request.
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .half_close(true)
        .serve_connection(TokioIo::new(server), service);
    let serving = tokio::spawn(conn);
    let _ = client.write_all(request).await;
    let _ = client.shutdown().await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer)).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
    answer
}

/// The statuses the grant server answers with.
const STATUSES: &[u16] = &[200, 400, 403, 404, 405, 408, 410, 413, 414, 417, 423, 429, 431, 500, 501, 503, 505];

/// The status of an HTTP/1.x answer (hyper answers an HTTP/1.0 request in HTTP/1.0).
fn status_of(answer: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(answer.get(..12)?).ok()?;
    let code = text.strip_prefix("HTTP/1.1 ").or_else(|| text.strip_prefix("HTTP/1.0 "))?;
    code.parse().ok()
}

#[test]
fn fuzz_grant_requests() {
    let s = site();
    let ctx = s.ctx.clone();
    let mut runner = proptest::test_runner::TestRunner::new(fuzzing::config());
    let strategy = fuzzing::inputs("grant-request", 2048);
    runner
        .run(&strategy, |request| {
            let before = redemptions(&s.home);
            let answer = s.rt.block_on(exchange(ctx.clone(), &request));
            let status = status_of(&answer);
            if let Some(code) = status {
                prop_assert!(STATUSES.contains(&code), "status {code} for {:?}", String::from_utf8_lossy(&request));
            } else {
                prop_assert!(answer.is_empty(), "not an HTTP answer: {:?}", String::from_utf8_lossy(&answer));
            }
            let counted = redemptions(&s.home) - before;
            prop_assert_eq!(counted, i64::from(status == Some(200)), "redemptions counted");
            Ok(())
        })
        .expect("no crash, only documented answers");
}

#[test]
fn the_grant_request_seeds_replay() {
    let s = site();
    for seed in fuzzing::corpus("grant-request") {
        let answer = s.rt.block_on(exchange(s.ctx.clone(), &seed));
        assert!(status_of(&answer).is_some(), "{:?} -> {:?}", String::from_utf8_lossy(&seed), answer);
    }
    // The first seed is a complete, valid redemption.
    let first = &fuzzing::corpus("grant-request")[0];
    let answer = s.rt.block_on(exchange(s.ctx.clone(), first));
    assert_eq!(status_of(&answer), Some(200), "{}", String::from_utf8_lossy(&answer));
}

/// An HTTP/1.0 request is answered in HTTP/1.0 (hyper answers in the request's version): one
/// flipped bit in a seed's "HTTP/1.1" makes it, and the fuzz target must read that answer too.
#[test]
fn an_http_1_0_redemption_is_answered_and_counted_once() {
    let s = site();
    let seed = String::from_utf8(fuzzing::corpus("grant-request")[0].clone()).expect("seed is text");
    let request = seed.replacen("HTTP/1.1", "HTTP/1.0", 1);
    let before = redemptions(&s.home);
    let answer = s.rt.block_on(exchange(s.ctx.clone(), request.as_bytes()));
    assert!(answer.starts_with(b"HTTP/1.0 200 "), "{}", String::from_utf8_lossy(&answer));
    assert_eq!(status_of(&answer), Some(200));
    assert_eq!(redemptions(&s.home) - before, 1);
}
