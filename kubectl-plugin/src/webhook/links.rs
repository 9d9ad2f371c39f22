//! Known Links: with `--links-from`, the host lists every Link from the API server at a fixed
//! interval and hands them to the policy as `knownLinks`, so `forbidDuplicatePeers` can refuse a
//! second Link to a peer that a Link of the same namespace already reaches (skupper#2077).
//!
//! A periodic LIST (not a watch) keeps this small: two Links created within one interval are
//! not compared with each other. Only what the duplicate check reads is kept (namespace, name,
//! endpoints). If a refresh fails the previous list stays in use and the failure is logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use serde_json::{Value, json};

use super::runtime::PolicyRuntime;

const IN_CLUSTER_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Where to list Links from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The pod's service account (what the Deployment from `webhook manifest` uses).
    InCluster,
    /// A kubeconfig file (its current context).
    Kubeconfig(PathBuf),
}

impl std::str::FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" => Err("give `in-cluster` or the path of a kubeconfig file".into()),
            "in-cluster" => Ok(Source::InCluster),
            path => Ok(Source::Kubeconfig(PathBuf::from(path))),
        }
    }
}

/// A minimal API server client: base URL, TLS trust and credentials.
pub struct ApiServer {
    host: String,
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    token: Option<String>,
}

impl ApiServer {
    /// Connection details from `source`.
    pub fn from_source(source: &Source) -> anyhow::Result<Self> {
        match source {
            Source::InCluster => in_cluster(),
            Source::Kubeconfig(p) => from_kubeconfig(p),
        }
    }

    /// Lists all Links (all namespaces), keeping namespace, name and endpoints.
    pub async fn list_links(&self) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut next = String::new();
        loop {
            let mut path = "/apis/skupper.io/v2alpha1/links?limit=500".to_string();
            if !next.is_empty() {
                path.push_str("&continue=");
                path.push_str(&percent_encode(&next));
            }
            let page = self.get(&path).await?;
            for item in page["items"].as_array().into_iter().flatten() {
                out.push(json!({
                    "apiVersion": "skupper.io/v2alpha1",
                    "kind": "Link",
                    "metadata": {
                        "name": item["metadata"]["name"],
                        "namespace": item["metadata"]["namespace"],
                    },
                    "spec": { "endpoints": item["spec"]["endpoints"] },
                }));
            }
            match page["metadata"]["continue"].as_str() {
                Some(c) if !c.is_empty() => next = c.to_string(),
                _ => return Ok(out),
            }
        }
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("cannot connect to the API server {}:{}", self.host, self.port))?;
        let name = ServerName::try_from(self.host.clone())
            .with_context(|| format!("{:?} is not a valid server name", self.host))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .context("TLS with the API server failed")?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let mut req = hyper::Request::get(path)
            .header(hyper::header::HOST, format!("{}:{}", self.host, self.port))
            .header(hyper::header::ACCEPT, "application/json");
        if let Some(t) = &self.token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let resp = sender.send_request(req.body(Empty::<Bytes>::new())?).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            let msg = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(String::from))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
            bail!("listing Links failed ({status}): {msg}; the webhook needs get/list on links.skupper.io");
        }
        serde_json::from_slice(&body).context("the API server's Link list is not JSON")
    }
}

/// Keeps `runtime`'s settings up to date with the cluster's Links, forever.
pub async fn refresh_forever(api: ApiServer, runtime: Arc<PolicyRuntime>, base_settings: Vec<u8>, every: Duration) {
    let mut failing = false;
    loop {
        match api.list_links().await {
            Ok(links) => {
                if failing {
                    eprintln!("webhook: listing Links works again ({} Links)", links.len());
                    failing = false;
                }
                match with_known_links(&base_settings, links) {
                    Ok(s) => runtime.set_settings(s),
                    Err(e) => eprintln!("webhook: {e:#}"),
                }
            }
            Err(e) if !failing => {
                eprintln!("webhook: {e:#}; keeping the previous list of known Links");
                failing = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(every).await;
    }
}

/// The settings JSON with `knownLinks` = the settings' own `knownLinks` plus `links`.
pub fn with_known_links(settings: &[u8], links: Vec<Value>) -> anyhow::Result<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(settings).context("settings are not JSON")?;
    let Some(obj) = v.as_object_mut() else {
        bail!("settings are not a JSON object");
    };
    let known = obj.entry("knownLinks").or_insert_with(|| json!([]));
    match known.as_array_mut() {
        Some(arr) => arr.extend(links),
        None => bail!("settings knownLinks is not a list"),
    }
    Ok(serde_json::to_vec(&v)?)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn split_server(server: &str) -> anyhow::Result<(String, u16)> {
    let Some(rest) = server.strip_prefix("https://") else {
        bail!("API server {server:?} is not https://");
    };
    let hostport = rest.split('/').next().unwrap_or_default();
    let bad_port = || format!("bad port in API server URL {server:?}");
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (h, after) =
            bracketed.split_once(']').with_context(|| format!("unclosed [ in API server URL {server:?}"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse::<u16>().with_context(bad_port)?,
            None => 443,
        };
        (h, port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().with_context(bad_port)?),
            None => (hostport, 443),
        }
    };
    Ok((host.to_string(), port))
}

fn client_config(
    ca_pem: &[u8],
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(c.context("the API server CA is not valid PEM")?)
            .context("the API server CA is not a usable certificate")?;
    }
    if roots.is_empty() {
        bail!("no API server CA certificate found");
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match client {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .context("the kubeconfig client certificate and key do not match")?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn in_cluster() -> anyhow::Result<ApiServer> {
    let host = std::env::var("KUBERNETES_SERVICE_HOST")
        .context("KUBERNETES_SERVICE_HOST is not set: --links-from in-cluster works only in a pod")?;
    let port = std::env::var("KUBERNETES_SERVICE_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(443);
    let dir = Path::new(IN_CLUSTER_DIR);
    let ca = std::fs::read(dir.join("ca.crt"))
        .context("cannot read the service account CA; mount the service account token")?;
    let token = std::fs::read_to_string(dir.join("token")).context("cannot read the service account token")?;
    Ok(ApiServer { host, port, tls: client_config(&ca, None)?, token: Some(token.trim().to_string()) })
}

fn from_kubeconfig(path: &Path) -> anyhow::Result<ApiServer> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
    let kc: serde_yaml::Value =
        serde_yaml::from_str(&text).with_context(|| format!("kubeconfig {} is not YAML", path.display()))?;
    let find = |list: &str, name: &str| -> Option<serde_yaml::Value> {
        kc[list].as_sequence()?.iter().find(|e| e["name"].as_str() == Some(name)).cloned()
    };
    let current = kc["current-context"]
        .as_str()
        .with_context(|| format!("kubeconfig {} has no current-context", path.display()))?;
    let ctx = find("contexts", current).with_context(|| format!("kubeconfig context {current:?} not found"))?;
    let cluster_name = ctx["context"]["cluster"].as_str().unwrap_or_default();
    let user_name = ctx["context"]["user"].as_str().unwrap_or_default();
    let cluster =
        find("clusters", cluster_name).with_context(|| format!("kubeconfig cluster {cluster_name:?} not found"))?;
    let user = find("users", user_name).unwrap_or(serde_yaml::Value::Null);
    let c = &cluster["cluster"];
    let u = &user["user"];
    let dir = path.parent().unwrap_or(Path::new("."));
    let data_or_file = |data: &serde_yaml::Value, file: &serde_yaml::Value, what: &str| {
        if let Some(d) = data.as_str() {
            return base64::engine::general_purpose::STANDARD
                .decode(d.trim())
                .with_context(|| format!("kubeconfig {what} data is not base64"))
                .map(Some);
        }
        if let Some(f) = file.as_str() {
            let p = dir.join(f);
            return std::fs::read(&p)
                .with_context(|| format!("cannot read kubeconfig {what} {}", p.display()))
                .map(Some);
        }
        Ok(None)
    };
    let server = c["server"].as_str().context("kubeconfig cluster has no server")?;
    let (host, port) = split_server(server)?;
    let ca = data_or_file(&c["certificate-authority-data"], &c["certificate-authority"], "certificate-authority")?
        .context("kubeconfig cluster has no certificate-authority: the webhook verifies the API server")?;
    let cert = data_or_file(&u["client-certificate-data"], &u["client-certificate"], "client-certificate")?;
    let key = data_or_file(&u["client-key-data"], &u["client-key"], "client-key")?;
    let client = match (cert, key) {
        (Some(c), Some(k)) => Some((
            CertificateDer::pem_slice_iter(&c)
                .collect::<Result<Vec<_>, _>>()
                .context("kubeconfig client certificate is not PEM")?,
            PrivateKeyDer::from_pem_slice(&k).context("kubeconfig client key is not PEM")?,
        )),
        _ => None,
    };
    let token = match (u["token"].as_str(), u["tokenFile"].as_str()) {
        (Some(t), _) => Some(t.to_string()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(dir.join(f))
                .with_context(|| format!("cannot read kubeconfig tokenFile {f}"))?
                .trim()
                .to_string(),
        ),
        _ => None,
    };
    Ok(ApiServer { host, port, tls: client_config(&ca, client)?, token })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn known_links_are_appended_to_settings() {
        let s = with_known_links(
            br#"{"maxCost": 3, "knownLinks": [{"metadata": {"name": "a"}}]}"#,
            vec![json!({"metadata": {"name": "b"}})],
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&s).unwrap();
        assert_eq!(v["maxCost"], 3);
        let names: Vec<_> =
            v["knownLinks"].as_array().unwrap().iter().map(|l| l["metadata"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(with_known_links(b"[]", vec![]).is_err());
    }

    #[test]
    fn server_urls_split_into_host_and_port() {
        assert_eq!(split_server("https://127.0.0.1:6443").unwrap(), ("127.0.0.1".into(), 6443));
        assert_eq!(split_server("https://kube.example.com").unwrap(), ("kube.example.com".into(), 443));
        assert_eq!(split_server("https://[::1]:6443/").unwrap(), ("::1".into(), 6443));
        assert_eq!(split_server("https://[::1]").unwrap(), ("::1".into(), 443));
        assert!(split_server("http://x").is_err());
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
        assert_eq!("in-cluster".parse::<Source>().unwrap(), Source::InCluster);
    }
}
