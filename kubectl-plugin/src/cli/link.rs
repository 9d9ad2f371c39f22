//! `link generate | status | update | delete` on the local platform.

use clap::Args;
use skupper_core::resources::{Link, Resource, SECRET_TYPE_TLS, SETTING_PROXY_CONFIGURATION, Secret};

use super::validate::{self, Problems};
use super::{CmdResult, Ctx, LinkCommand, check_output, fail, one_name};
use crate::output::{self, TabWriter};
use crate::platform::Change;
use crate::platform::resources::Resources;
use skupper_router::certs;

/// `link generate`.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    #[arg(hide = true)]
    extra: Vec<String>,
    /// the name of a Kubernetes secret containing the generated or externally-supplied TLS credentials.
    #[arg(long, value_name = "NAME")]
    tls_credentials: Option<String>,
    /// the configured "expense" of sending traffic over the link.
    #[arg(long, default_value = "1", allow_negative_numbers = true, value_name = "N")]
    cost: String,
    /// print resources to the console instead of submitting them to the Skupper controller. Choices: json, yaml
    #[arg(short = 'o', long, default_value = "yaml", value_name = "FORMAT")]
    output: String,
    /// connect the generated links through an HTTP CONNECT proxy: the name of a kubernetes.io/basic-auth Secret
    /// (host, port, optional username and password) on the site that applies them.
    #[arg(long, value_name = "SECRET")]
    proxy_configuration: Option<String>,
    /// the name of the generated Link and of its Secret (unless --tls-credentials names it); an HA
    /// site's two Links are NAME-1 and NAME-2 (default: link-<site>[-<group>], Secret link-<site>)
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// the host the Link connects to, instead of the site's endpoint hosts (it should be one the
    /// site's certificate names: site create/update --endpoint-host)
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
}

/// `link status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Link name (optional)
    #[arg(value_name = "NAME")]
    name: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// print status of the links Choices: json, yaml
    #[arg(short = 'o', long, value_name = "FORMAT")]
    output: Option<String>,
}

/// `link update`.
#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    /// Link name
    #[arg(value_name = "NAME")]
    name: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// the configured "expense" of sending traffic over the link (unchanged when not given).
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    cost: Option<String>,
    /// the name of the Secret holding the link's TLS credentials (unchanged when not given).
    #[arg(long, value_name = "NAME")]
    tls_credentials: Option<String>,
    /// connect through the HTTP CONNECT proxy of this kubernetes.io/basic-auth Secret (host, port, optional
    /// username and password); "" connects directly again (unchanged when not given).
    #[arg(long, value_name = "SECRET")]
    proxy_configuration: Option<String>,
    /// raise an error if the operation does not complete in the given period of time (expressed in seconds).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    timeout: String,
    /// Wait for the given status before exiting (when a controller runs the site). Choices: ready, configured, none
    #[arg(long, default_value = "ready", value_name = "STATUS")]
    wait: String,
}

/// `link delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// Link name
    #[arg(value_name = "NAME")]
    name: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// raise an error if the operation does not complete in the given period of time (expressed in seconds).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    timeout: String,
    /// Wait for deletion to complete before exiting (while the site runs)
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true", value_name = "BOOL")]
    wait: bool,
}

pub(super) fn run(ctx: &Ctx, cmd: LinkCommand) -> CmdResult {
    match cmd {
        LinkCommand::Generate(a) => generate(ctx, a),
        LinkCommand::Status(a) => show(ctx, a),
        LinkCommand::Update(a) => update(ctx, a),
        LinkCommand::Delete(a) => delete(ctx, a),
    }
}

fn generate(ctx: &Ctx, a: GenerateArgs) -> CmdResult {
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
    if res.site.is_none() {
        problems.push("there is no skupper site in this namespace");
    }
    if !a.extra.is_empty() {
        problems.push("arguments are not allowed in this command");
    }
    if let Some(t) = &a.tls_credentials
        && let Err(e) = validate::resource_name(t)
    {
        problems.push(format!("the name of the tls secret is not valid: {e}"));
    }
    if let Some(p) = &a.proxy_configuration
        && let Err(e) = validate::resource_name(p)
    {
        problems.push(format!("the name of the proxy configuration secret is not valid: {e}"));
    }
    if let Some(n) = &a.name
        && let Err(e) = validate::resource_name(n)
    {
        problems.push(format!("link name is not valid: {e}"));
    }
    if let Some(h) = &a.host
        && !validate::host(h)
    {
        problems.push("host is not valid: a valid IP address or hostname is expected");
    }
    let cost = validate::cost(&a.cost, &mut problems);
    check_output(Some(&a.output), &mut problems);
    problems.finish()?;
    let (Some(site), Some(cost)) = (res.site, cost) else { return Err(fail("invalid input")) };

    let mut endpoints = ctx.ns.endpoints(&site)?;
    if let Some(h) = &a.host
        && !endpoints.is_empty()
    {
        let mut known: Vec<String> = endpoints.iter().map(|e| e.host.clone()).collect();
        known.dedup();
        if !known.contains(h) {
            output::note(format!(
                "Note: {h:?} is not one of the hosts site {:?} advertises ({}): the link fails unless the site's \
                 certificate names it; add it with {}",
                site.name(),
                known.join(", "),
                ctx.hint(&format!("site update --endpoint-host {h}"))
            ));
        }
        for e in &mut endpoints {
            e.host = h.clone();
        }
        // One endpoint per group and role once the hosts are the same.
        let mut seen = std::collections::BTreeSet::new();
        endpoints.retain(|e| seen.insert((e.group.clone(), e.name.clone())));
    }
    if endpoints.is_empty() {
        return Err(fail(format!(
            "A link cannot be generated because link access is not enabled. \n Use \"{} site update --enable-link-access\" to enable it.",
            ctx.prog
        )));
    }
    let secret_name =
        a.tls_credentials.clone().or_else(|| a.name.clone()).unwrap_or_else(|| format!("link-{}", site.name()));
    let mut links = crate::grant::generate_links(site.name(), &endpoints, &secret_name, cost);
    if let Some(n) = &a.name {
        let single = links.len() == 1;
        for (i, l) in links.iter_mut().enumerate() {
            l.metadata.name = if single { n.clone() } else { format!("{n}-{}", i + 1) };
        }
    }
    // The proxy Secret lives on the site that applies the Links (reference §4.1).
    if let Some(p) = &a.proxy_configuration {
        for l in &mut links {
            l.spec.settings.insert(SETTING_PROXY_CONFIGURATION.into(), p.clone());
        }
    }
    let ca = ctx.ns.site_ca(&site)?;
    // Upstream: the comma-joined hosts of the site's endpoints.
    let mut hosts: Vec<&str> = Vec::new();
    for e in &endpoints {
        if !hosts.contains(&e.host.as_str()) {
            hosts.push(&e.host);
        }
    }
    let client = certs::issue_client(&ca, &hosts.join(","), certs::DEFAULT_VALIDITY)?;
    let secret = Secret::with_data(
        secret_name,
        SECRET_TYPE_TLS,
        [
            ("tls.crt", client.cert_pem.as_bytes()),
            ("tls.key", client.key_pem.as_bytes()),
            ("ca.crt", client.ca_pem.as_bytes()),
        ],
    );
    let docs = links.into_iter().map(Resource::Link).chain(std::iter::once(Resource::Secret(secret)));
    let mut text = Vec::new();
    for d in docs {
        text.push(output::encode(&a.output, &d.to_value())?);
    }
    let sep = if a.output == "yaml" { "---\n" } else { "\n" };
    let mut out = String::new();
    for (i, t) in text.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(t.trim_end_matches('\n'));
        out.push('\n');
    }
    output::raw(out)?;
    if !ctx.ns.running() {
        output::note(format!(
            "Note: site {:?} is not running; the link connects once it runs ({}).",
            site.name(),
            ctx.start_hint()
        ));
    }
    Ok(())
}

fn show(ctx: &Ctx, a: StatusArgs) -> CmdResult {
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
    if res.site.is_none() {
        problems.push("there is no skupper site available");
    }
    let name = if a.extra.is_empty() {
        one_name("link", a.name.as_deref(), &[], None, &mut problems)
    } else {
        problems.push("this command only accepts one argument");
        None
    };
    check_output(a.output.as_deref(), &mut problems);
    problems.finish()?;
    let running = ctx.ns.running();
    let observed = ctx.ns.observe(&res);
    let encode = |f: &str, l: &Link| {
        let mut v = Resource::Link(l.clone()).to_value();
        if let Some(p) = proxy_status(&res, l)
            && let Some(status) = v.get_mut("status").and_then(|s| s.as_object_mut())
        {
            status.insert("proxy".into(), p);
        }
        output::encode(f, &v)
    };

    if let Some(name) = name {
        let Some(link) = observed.links.get(&name) else {
            return Err(fail(match ctx.ns.as_local() {
                Some(_) => format!("There is no link resource in the namespace with the name {name:?}"),
                // As upstream's kube CLI reports the API server's NotFound.
                None => format!("links.skupper.io {name:?} not found"),
            }));
        };
        if let Some(f) = &a.output {
            output::line(encode(f, link)?)?;
        } else {
            let mut text = format!(
                "Name\t: {}\nStatus\t: {}\nCost\t: {}\nMessage\t: {}\n",
                link.name(),
                link.status.status.status,
                link.spec.cost,
                link.status.status.message
            );
            if let Some(p) = link.spec.proxy_configuration() {
                let addr = match res.secrets.get(p).map(Secret::proxy) {
                    Some(Ok(s)) if s.host.contains(':') => format!("[{}]:{}", s.host, s.port),
                    Some(Ok(s)) => format!("{}:{}", s.host, s.port),
                    Some(Err(_)) => "no usable host and port".into(),
                    None => "Secret not found".into(),
                };
                text.push_str(&format!("Proxy\t: {p} ({addr})\n"));
            }
            output::raw(text)?;
        }
    } else if res.links.is_empty() {
        output::line("There are no link resources in the namespace")?;
    } else if let Some(f) = &a.output {
        for l in observed.links.values() {
            output::line(encode(f, l)?)?;
        }
    } else {
        let mut tw = TabWriter::new(0, 8, 1);
        tw.line("NAME\tSTATUS\tCOST\tMESSAGE");
        for l in observed.links.values() {
            tw.line(format!("{}\t{}\t{}\t{}", l.name(), l.status.status.status, l.spec.cost, l.status.status.message));
        }
        output::raw(tw.render())?;
    }
    // Better than upstream (#2006): links other sites made to this one.
    let incoming = if a.output.is_none() { ctx.ns.incoming() } else { Vec::new() };
    if !incoming.is_empty() {
        let mut tw = TabWriter::new(0, 8, 1);
        tw.line("REMOTE SITE\tREMOTE LINK\tCOST");
        for i in &incoming {
            tw.line(format!("{}\t{}\t{}", i.remote_site_name, i.link_name, i.cost));
        }
        output::raw(format!("\nIncoming links:\n{}", tw.render()))?;
    }
    if !running {
        output::note(format!("The site is not running. Start it with: {}", ctx.start_hint()));
    }
    Ok(())
}

fn update(ctx: &Ctx, a: UpdateArgs) -> CmdResult {
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
    if res.site.is_none() {
        problems.push("there is no skupper site in this namespace");
    }
    let name = one_name("link", a.name.as_deref(), &a.extra, Some("link name must not be empty"), &mut problems);
    if let Some(n) = &name
        && !res.links.contains_key(n)
    {
        problems.push(format!("the link {n:?} is not available in the namespace"));
    }
    if let Some(t) = &a.tls_credentials {
        if let Err(e) = validate::resource_name(t) {
            problems.push(format!("the name of the tls secret is not valid: {e}"));
        } else if !res.secrets.contains_key(t) {
            problems.push(format!("the TLS secret {t:?} is not available in the namespace"));
        }
    }
    if let Some(p) = a.proxy_configuration.as_deref().filter(|p| !p.is_empty()) {
        if let Err(e) = validate::resource_name(p) {
            problems.push(format!("the name of the proxy configuration secret is not valid: {e}"));
        } else {
            match res.secrets.get(p).map(Secret::proxy) {
                None => problems.push(format!(
                    "the proxy configuration secret {p:?} is not available in the namespace; apply a \
                     kubernetes.io/basic-auth Secret with host and port first ({})",
                    ctx.hint("system apply -f <file>")
                )),
                Some(Err(e)) => problems.push(format!("the proxy configuration secret {p:?} cannot be used: {e}")),
                Some(Ok(_)) => {}
            }
        }
    }
    let cost = a.cost.as_deref().and_then(|c| validate::cost(c, &mut problems));
    if a.cost.is_none() && a.tls_credentials.is_none() && a.proxy_configuration.is_none() {
        problems.push("nothing to update: give --cost, --tls-credentials and/or --proxy-configuration");
    }
    let timeout = super::check_timeout(&a.timeout, &mut problems);
    let wait = super::check_wait(&a.wait, &mut problems);
    problems.finish()?;
    let Some(timeout) = timeout else { return Err(fail("invalid input")) };
    let Some(mut link) = name.and_then(|n| res.links.get(&n).cloned()) else { return Err(fail("invalid input")) };
    // Only what is given changes (upstream resets the cost to 1 when --cost is omitted).
    if let Some(c) = cost {
        link.spec.cost = c;
    }
    if let Some(t) = a.tls_credentials {
        link.spec.tls_credentials = t;
    }
    match a.proxy_configuration {
        Some(p) if p.is_empty() => {
            link.spec.settings.remove(SETTING_PROXY_CONFIGURATION);
        }
        Some(p) => {
            link.spec.settings.insert(SETTING_PROXY_CONFIGURATION.into(), p);
        }
        None => {}
    }
    ctx.ns.commit(vec![Change::Put(Resource::Link(link.clone()))])?;
    if ctx.wait_for(Link::KIND, link.name(), wait, timeout)? {
        let word = wait.map(crate::platform::Until::word).unwrap_or("updated");
        output::line(format!("Link {:?} is {word}.", link.name()))?;
        return Ok(());
    }
    output::line(format!("Link {:?} is updated", link.name()))?;
    Ok(())
}

fn delete(ctx: &Ctx, a: DeleteArgs) -> CmdResult {
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
    if res.site.is_none() {
        problems.push("there is no skupper site in this namespace");
    }
    let name = one_name("link", a.name.as_deref(), &a.extra, Some("link name must not be empty"), &mut problems);
    if let Some(n) = &name
        && !res.links.contains_key(n)
    {
        problems.push(format!("the link {n:?} is not available in the namespace"));
    }
    let timeout = super::check_timeout(&a.timeout, &mut problems);
    problems.finish()?;
    let (Some(name), Some(timeout)) = (name, timeout) else { return Err(fail("invalid input")) };
    ctx.ns.commit(vec![Change::Delete { kind: Link::KIND, name: name.clone() }])?;
    if a.wait && !ctx.wait_deleted(Link::KIND, &name, timeout)? {
        return Err(fail(format!("Link {name:?} not deleted yet, check the status for more information")));
    }
    output::line(format!("Link {name:?} is deleted"))?;
    Ok(())
}

/// `status.proxy` of a Link that names a proxy Secret: the Secret and the address it gives
/// (upstream's status has no such field; consumers ignore unknown fields).
fn proxy_status(res: &Resources, link: &Link) -> Option<serde_json::Value> {
    let name = link.spec.proxy_configuration()?;
    let mut v = serde_json::json!({ "secret": name });
    if let Some(Ok(p)) = res.secrets.get(name).map(Secret::proxy) {
        v["host"] = p.host.into();
        v["port"] = p.port.into();
    }
    Some(v)
}
