//! `listener` and `connector` `create | update | generate | status | delete`. They share their
//! shape; upstream's texts differ only by the word. Everything is a resource edit through the
//! platform seam ([`crate::platform::Namespace`]), so it works on both platforms.

use clap::Args;
use skupper_core::resources::{Connector, ConnectorSpec, Listener, ListenerSpec, Resource};

use super::validate::{self, Problems};
use super::{CmdResult, ConnectorCommand, Ctx, ListenerCommand, check_output, fail, one_name};
use crate::output::{self, TabWriter};
use crate::platform::Change;
use crate::platform::config::DEFAULT_SERVICE_HOST;

/// Upstream's refusal of a Connector without a host on a system site (its pods selector means
/// nothing on a host).
pub(super) const CONNECTOR_HOST_REQUIRED: &str = "connector host and port are required";

/// Where a local connector connects when `--host` is not given (upstream's default).
const DEFAULT_CONNECTOR_HOST: &str = "localhost";

/// A new listener or connector, as `create` and `generate` take it.
#[derive(Debug, Args)]
pub(super) struct NewArgs {
    /// Name
    #[arg(value_name = "NAME")]
    name: Option<String>,
    /// Port
    #[arg(value_name = "PORT")]
    port: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// The identifier used to route traffic from listeners to connectors (default: the name)
    #[arg(short = 'r', long, value_name = "KEY")]
    routing_key: Option<String>,
    /// The hostname or IP address to listen on (listener, default 127.0.0.1) or to connect to
    /// (connector, default localhost)
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// Connector only, Kubernetes only: connect to the Ready pods that match this label selector
    /// (key=value[,key=value]) instead of --host
    #[arg(long, value_name = "SELECTOR")]
    selector: Option<String>,
    /// the name of a Kubernetes secret containing TLS credentials
    #[arg(long, value_name = "NAME")]
    tls_credentials: Option<String>,
    /// The type of the service. Choices: tcp (default tcp)
    #[arg(long = "type", value_name = "TYPE")]
    type_: Option<String>,
}

impl NewArgs {
    /// The name and port when they are valid; every problem with the flags goes to `problems`.
    fn check(&self, kind: Kind, problems: &mut Problems) -> (Option<String>, Option<u16>) {
        let np = name_and_port(kind.word(), self.name.as_ref(), self.port.as_ref(), &self.extra, problems);
        check_flags(
            kind,
            self.routing_key.as_deref(),
            self.host.as_deref(),
            self.tls_credentials.as_deref(),
            self.type_.as_deref(),
            problems,
        );
        np
    }

    /// The resource's fields, with the checked name and port.
    fn service(self, name: String, port: u16) -> NewService {
        NewService {
            name,
            port,
            routing_key: self.routing_key,
            host: self.host,
            selector: self.selector,
            tls_credentials: self.tls_credentials.filter(|t| !t.is_empty()),
            type_: self.type_,
        }
    }
}

/// `listener create` / `connector create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    new: NewArgs,
    /// raise an error if the operation does not complete in the given period of time (expressed in seconds).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    timeout: String,
    /// Wait for the given status before exiting (when a controller runs the site). Choices: ready, configured, none
    #[arg(long, default_value = "configured", value_name = "STATUS")]
    wait: String,
}

/// `listener update` / `connector update`: only what is given changes.
#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    /// Name
    #[arg(value_name = "NAME")]
    name: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// The identifier used to route traffic from listeners to connectors (unchanged when not given)
    #[arg(short = 'r', long, value_name = "KEY")]
    routing_key: Option<String>,
    /// The hostname or IP address to listen on (listener) or to connect to (connector) (unchanged
    /// when not given)
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// The port (unchanged when not given)
    #[arg(long, value_name = "PORT")]
    port: Option<String>,
    /// Connector only, Kubernetes only: connect to the Ready pods that match this label selector
    /// (key=value[,key=value]) instead of --host
    #[arg(long, value_name = "SELECTOR")]
    selector: Option<String>,
    /// the name of a Kubernetes secret containing TLS credentials ("" removes them; unchanged when
    /// not given)
    #[arg(long, value_name = "NAME")]
    tls_credentials: Option<String>,
    /// The type of the service. Choices: tcp (unchanged when not given)
    #[arg(long = "type", value_name = "TYPE")]
    type_: Option<String>,
    /// raise an error if the operation does not complete in the given period of time (expressed in seconds).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    timeout: String,
    /// Wait for the given status before exiting (when a controller runs the site). Choices: ready, configured, none
    #[arg(long, default_value = "configured", value_name = "STATUS")]
    wait: String,
}

/// `listener generate` / `connector generate`: the resource printed, not stored.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    #[command(flatten)]
    new: NewArgs,
    /// print resources to the console instead of submitting them to the Skupper controller. Choices: json, yaml
    #[arg(short = 'o', long, default_value = "yaml", value_name = "FORMAT")]
    output: String,
}

/// `listener status` / `connector status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Name (optional)
    #[arg(value_name = "NAME")]
    name: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// print status Choices: json, yaml
    #[arg(short = 'o', long, value_name = "FORMAT")]
    output: Option<String>,
}

/// `listener delete` / `connector delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// Name
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

/// Service types upstream accepts (`common.ListenerTypes`, `common.ConnectorTypes`).
const SERVICE_TYPES: [&str; 1] = ["tcp"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Listener,
    Connector,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Self::Listener => "listener",
            Self::Connector => "connector",
        }
    }
    fn kind(self) -> &'static str {
        match self {
            Self::Listener => Listener::KIND,
            Self::Connector => Connector::KIND,
        }
    }
}

pub(super) fn run_listener(ctx: &Ctx, cmd: ListenerCommand) -> CmdResult {
    match cmd {
        ListenerCommand::Create(a) => create(ctx, Kind::Listener, a),
        ListenerCommand::Update(a) => update(ctx, Kind::Listener, a),
        ListenerCommand::Generate(a) => generate(ctx, Kind::Listener, a),
        ListenerCommand::Status(a) => show(ctx, Kind::Listener, a),
        ListenerCommand::Delete(a) => delete(ctx, Kind::Listener, a),
    }
}

pub(super) fn run_connector(ctx: &Ctx, cmd: ConnectorCommand) -> CmdResult {
    match cmd {
        ConnectorCommand::Create(a) => create(ctx, Kind::Connector, a),
        ConnectorCommand::Update(a) => update(ctx, Kind::Connector, a),
        ConnectorCommand::Generate(a) => generate(ctx, Kind::Connector, a),
        ConnectorCommand::Status(a) => show(ctx, Kind::Connector, a),
        ConnectorCommand::Delete(a) => delete(ctx, Kind::Connector, a),
    }
}

/// Upstream's `<w> port is not valid: ...` checks of a port argument or flag.
fn check_port(w: &str, p: &str, problems: &mut Problems) -> Option<u16> {
    match validate::atoi(p) {
        Err(e) => problems.push(format!("{w} port is not valid: {e}")),
        Ok(v) => match u16::try_from(v) {
            Ok(v) if v > 0 => return Some(v),
            _ if v < 0 => problems.push(format!("{w} port is not valid: value is not positive")),
            _ => problems.push(format!("{w} port is not valid: value must be between 1 and 65535")),
        },
    }
    None
}

/// `NAME PORT` of create and generate, with upstream's texts.
fn name_and_port(
    w: &str,
    name: Option<&String>,
    port: Option<&String>,
    extra: &[String],
    problems: &mut Problems,
) -> (Option<String>, Option<u16>) {
    match (name, port) {
        (Some(_), Some(_)) if !extra.is_empty() => problems.push("only two arguments are allowed for this command"),
        (Some(n), Some(p)) => {
            if n.is_empty() {
                problems.push(format!("{w} name must not be empty"));
            } else if p.is_empty() {
                problems.push(format!("{w} port must not be empty"));
            } else {
                let name = match validate::resource_name(n) {
                    Ok(()) => Some(n.clone()),
                    Err(e) => {
                        problems.push(format!("{w} name is not valid: {e}"));
                        None
                    }
                };
                return (name, check_port(w, p, problems));
            }
        }
        _ => problems.push(format!("{w} name and port must be configured")),
    }
    (None, None)
}

/// The flags every form shares: routing key, host, TLS credentials (`""` allowed: none) and type.
fn check_flags(
    kind: Kind,
    routing_key: Option<&str>,
    host: Option<&str>,
    tls_credentials: Option<&str>,
    type_: Option<&str>,
    problems: &mut Problems,
) {
    if let Some(k) = routing_key
        && let Err(e) = validate::resource_name(k)
    {
        problems.push(format!("routing key is not valid: {e}"));
    }
    if let Some(h) = host
        && !validate::host(h)
    {
        problems.push("host is not valid: a valid IP address or hostname is expected");
    }
    if let Some(t) = tls_credentials.filter(|t| !t.is_empty())
        && let Err(e) = validate::resource_name(t)
    {
        problems.push(format!("tlsCredentials value is not valid: {e}"));
    }
    if let Some(t) = type_
        && !SERVICE_TYPES.contains(&t)
    {
        problems.push(format!(
            "{} type is not valid: value {t} not allowed. It should be one of this options: [{}]",
            kind.word(),
            SERVICE_TYPES.join(" ")
        ));
    }
}

/// `--selector`: connectors on Kubernetes only, and not with `--host`.
fn check_selector(ctx: &Ctx, kind: Kind, selector: Option<&str>, host: Option<&str>, problems: &mut Problems) {
    let Some(sel) = selector else { return };
    if kind == Kind::Listener {
        problems.push("--selector is for connectors (the pods a connector reaches)");
    } else if ctx.ns.as_local().is_some() {
        problems.push(format!(
            "{CONNECTOR_HOST_REQUIRED}: --selector needs the kubernetes platform (pods); on a host, give --host"
        ));
    } else if host.is_some() {
        problems.push("give --host or --selector, not both");
    } else if sel.split(',').any(|t| !t.contains('=') || t.starts_with('=')) {
        problems.push(format!("selector is not valid: {sel:?}: use key=value[,key=value]"));
    }
}

/// What a new listener or connector is made of.
struct NewService {
    name: String,
    port: u16,
    routing_key: Option<String>,
    host: Option<String>,
    selector: Option<String>,
    tls_credentials: Option<String>,
    type_: Option<String>,
}

/// The resource for `create` and `generate`, with upstream's defaults. `local`: for a site on
/// this host (a listener's host is then where it listens, else the Service in front of it).
fn new_resource(kind: Kind, local: bool, s: NewService) -> Resource {
    let name = s.name;
    let routing_key = s.routing_key.unwrap_or_else(|| name.clone());
    // A listener's host is where it listens locally, and the Service in front of it on Kubernetes
    // (upstream's default there: the listener's name).
    // A local connector's target: upstream's default, localhost (both address families).
    let host = s.host.unwrap_or_else(|| match (kind, local, &s.selector) {
        (Kind::Listener, false, _) => name.clone(),
        (Kind::Connector, _, Some(_)) => String::new(),
        (Kind::Connector, true, None) => DEFAULT_CONNECTOR_HOST.to_string(),
        _ => DEFAULT_SERVICE_HOST.to_string(),
    });
    let tls_credentials = s.tls_credentials.unwrap_or_default();
    // Left out when not given: the router takes no type as tcp, the only one.
    let type_ = s.type_.unwrap_or_default();
    let port = s.port;
    match kind {
        Kind::Listener => Resource::Listener(Listener::new(
            name,
            ListenerSpec { routing_key, host, port, tls_credentials, type_, ..Default::default() },
        )),
        Kind::Connector => Resource::Connector(Connector::new(
            name,
            ConnectorSpec {
                routing_key,
                host,
                port,
                selector: s.selector.unwrap_or_default(),
                tls_credentials,
                type_,
                ..Default::default()
            },
        )),
    }
}

fn cap(kind: Kind) -> &'static str {
    if kind == Kind::Listener { "Listener" } else { "Connector" }
}

fn create(ctx: &Ctx, kind: Kind, a: CreateArgs) -> CmdResult {
    let w = kind.word();
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
    let (name, port) = a.new.check(kind, &mut problems);
    if let Some(n) = &name
        && res.contains(kind.kind(), n)
    {
        problems.push(format!("There is already a {w} {n} created for namespace {}", ctx.namespace));
    }
    if res.site.is_none() {
        problems.push(format!(
            "there is no skupper site in this namespace; create one first with {}",
            ctx.hint("site create <name>")
        ));
    }
    check_selector(ctx, kind, a.new.selector.as_deref(), a.new.host.as_deref(), &mut problems);
    let timeout = super::check_timeout(&a.timeout, &mut problems);
    let wait = super::check_wait(&a.wait, &mut problems);
    problems.finish()?;
    let (Some(name), Some(port), Some(timeout)) = (name, port, timeout) else { return Err(fail("invalid input")) };
    let r = new_resource(kind, ctx.ns.as_local().is_some(), a.new.service(name.clone(), port));
    ctx.ns.commit(vec![Change::Put(r)])?;
    let word = if ctx.wait_for(kind.kind(), &name, wait, timeout)? {
        wait.map(crate::platform::Until::word).unwrap_or("configured")
    } else {
        "configured"
    };
    output::line(format!("{} {name:?} is {word}.", cap(kind)))?;
    if !ctx.ns.running() {
        output::note(format!("The site is not running; start it with: {}", ctx.start_hint()));
    }
    Ok(())
}

/// `update`: the stored resource with what is given changed (upstream keeps what is not given).
fn update(ctx: &Ctx, kind: Kind, a: UpdateArgs) -> CmdResult {
    let w = kind.word();
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
    let missing = format!("{w} name must be configured");
    let name = one_name(w, a.name.as_deref(), &a.extra, Some(&missing), &mut problems);
    let current = name.as_ref().and_then(|n| match kind {
        Kind::Listener => res.listeners.get(n).cloned().map(Resource::Listener),
        Kind::Connector => res.connectors.get(n).cloned().map(Resource::Connector),
    });
    if let Some(n) = &name
        && current.is_none()
    {
        problems.push(format!("{w} {n} must exist in namespace {} to be updated", ctx.namespace));
    }
    check_flags(
        kind,
        a.routing_key.as_deref(),
        a.host.as_deref(),
        a.tls_credentials.as_deref(),
        a.type_.as_deref(),
        &mut problems,
    );
    let port = a.port.as_deref().and_then(|p| check_port(w, p, &mut problems));
    check_selector(ctx, kind, a.selector.as_deref(), a.host.as_deref(), &mut problems);
    let timeout = super::check_timeout(&a.timeout, &mut problems);
    let wait = super::check_wait(&a.wait, &mut problems);
    problems.finish()?;
    let (Some(mut r), Some(timeout)) = (current, timeout) else { return Err(fail("invalid input")) };
    match &mut r {
        Resource::Listener(l) => {
            let s = &mut l.spec;
            if let Some(k) = a.routing_key {
                s.routing_key = k;
            }
            if let Some(h) = a.host {
                s.host = h;
            }
            if let Some(p) = port {
                s.port = p;
            }
            if let Some(t) = a.tls_credentials {
                s.tls_credentials = t;
            }
            if let Some(t) = a.type_ {
                s.type_ = t;
            }
        }
        Resource::Connector(c) => {
            let s = &mut c.spec;
            if let Some(k) = a.routing_key {
                s.routing_key = k;
            }
            // A host replaces a selector and the other way round (one target).
            if let Some(h) = a.host {
                s.host = h;
                s.selector.clear();
            }
            if let Some(sel) = a.selector {
                s.selector = sel;
                s.host.clear();
            }
            if let Some(p) = port {
                s.port = p;
            }
            if let Some(t) = a.tls_credentials {
                s.tls_credentials = t;
            }
            if let Some(t) = a.type_ {
                s.type_ = t;
            }
        }
        _ => return Err(fail("invalid input")),
    }
    let name = r.name().to_string();
    ctx.ns.commit(vec![Change::Put(r)])?;
    ctx.wait_for(kind.kind(), &name, wait, timeout)?;
    output::line(format!("{} {name:?} is updated", cap(kind)))?;
    if !ctx.ns.running() {
        output::note(format!("The site is not running; start it with: {}", ctx.start_hint()));
    }
    Ok(())
}

/// `generate`: the resource `create` would store, printed (YAML unless `-o json`).
fn generate(ctx: &Ctx, kind: Kind, a: GenerateArgs) -> CmdResult {
    let mut problems = Problems::default();
    let (name, port) = a.new.check(kind, &mut problems);
    if let Some(sel) = &a.new.selector {
        if kind == Kind::Listener {
            problems.push("--selector is for connectors (the pods a connector reaches)");
        } else if a.new.host.is_some() {
            problems.push("give --host or --selector, not both");
        } else if sel.split(',').any(|t| !t.contains('=') || t.starts_with('=')) {
            problems.push(format!("selector is not valid: {sel:?}: use key=value[,key=value]"));
        }
    }
    check_output(Some(&a.output), &mut problems);
    problems.finish()?;
    let (Some(name), Some(port)) = (name, port) else { return Err(fail("invalid input")) };
    let r = new_resource(kind, ctx.ns.as_local().is_some(), a.new.service(name, port));
    output::raw(output::document(&a.output, &r.to_value())?)?;
    Ok(())
}

/// A connector's selector, from its encoded value.
fn selector_of(v: &serde_json::Value) -> &str {
    v.pointer("/spec/selector").and_then(serde_json::Value::as_str).unwrap_or_default()
}

/// (name, status, message, routing key, host, port, matched, encoded value)
type Row = (String, String, String, String, String, u16, bool, serde_json::Value);

fn show(ctx: &Ctx, kind: Kind, a: StatusArgs) -> CmdResult {
    let w = kind.word();
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
    let name = one_name(w, a.name.as_deref(), &a.extra, None, &mut problems);
    if let Some(n) = &name
        && !res.contains(kind.kind(), n)
    {
        problems.push(format!("{w} {n} does not exist in namespace {}", ctx.namespace));
    }
    check_output(a.output.as_deref(), &mut problems);
    problems.finish()?;
    let running = ctx.ns.running();
    let observed = ctx.ns.observe(&res);
    let none_found = if kind == Kind::Listener { "No listeners found" } else { "No connectors found" };
    let rows: Vec<Row> = match kind {
        Kind::Listener => observed
            .listeners
            .into_values()
            .filter(|l| name.as_ref().is_none_or(|n| n == l.name()))
            .map(|l| {
                (
                    l.name().to_string(),
                    l.status.status.status.clone(),
                    l.status.status.message.clone(),
                    l.spec.routing_key.clone(),
                    l.spec.host.clone(),
                    l.spec.port,
                    l.status.has_matching_connector,
                    Resource::Listener(l).to_value(),
                )
            })
            .collect(),
        Kind::Connector => observed
            .connectors
            .into_values()
            .filter(|c| name.as_ref().is_none_or(|n| n == c.name()))
            .map(|c| {
                (
                    c.name().to_string(),
                    c.status.status.status.clone(),
                    c.status.status.message.clone(),
                    c.spec.routing_key.clone(),
                    c.spec.host.clone(),
                    c.spec.port,
                    c.status.has_matching_listener,
                    Resource::Connector(c).to_value(),
                )
            })
            .collect(),
    };
    if rows.is_empty() {
        output::line(none_found)?;
        return Ok(());
    }
    let ha = res.site.as_ref().is_some_and(|s| s.spec.ha);
    if let Some(f) = &a.output {
        // Exactly the resource, as upstream's CRDs define it: how a listener's connections were
        // routed is in `network status -o json|yaml` (routers[].status.listeners).
        for r in &rows {
            output::line(output::encode(f, &r.7)?)?;
        }
        return Ok(());
    }
    // Upstream nonkube: tabwriter.NewWriter(os.Stdout, 8, 8, 1, '\t', tabwriter.TabIndent).
    let mut tw = TabWriter::new(8, 8, 1);
    if name.is_some() {
        let r = &rows[0];
        match kind {
            Kind::Listener => tw.line(format!(
                "Name:\t{}\nStatus:\t{}\nRouting key:\t{}\nHost:\t{}\nPort:\t{}\nHas Matching Connector:\t{}\nMessage:\t{}\n",
                r.0, r.1, r.3, r.4, r.5, r.6, r.2
            )),
            Kind::Connector => tw.line(format!(
                "Name:\t{}\nStatus:\t{}\nRouting key:\t{}\nSelector:\t{}\nHost:\t{}\nPort:\t{}\nHas Matching Listener:\t{}\nMessage:\t{}\n",
                r.0,
                r.1,
                r.3,
                selector_of(&r.7),
                r.4,
                r.5,
                r.6,
                r.2
            )),
        }
    } else {
        match kind {
            Kind::Listener => tw.line("NAME\tSTATUS\tROUTING-KEY\tHOST\tPORT\tMATCHING-CONNECTOR\tMESSAGE"),
            Kind::Connector => {
                tw.line("NAME\tSTATUS\tROUTING-KEY\tSELECTOR\tHOST\tPORT\tHAS MATCHING LISTENER\tMESSAGE")
            }
        }
        for r in &rows {
            match kind {
                Kind::Listener => tw.line(format!("{}\t{}\t{}\t{}\t{}\t{}\t{}", r.0, r.1, r.3, r.4, r.5, r.6, r.2)),
                Kind::Connector => tw.line(format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.0,
                    r.1,
                    r.3,
                    selector_of(&r.7),
                    r.4,
                    r.5,
                    r.6,
                    r.2
                )),
            }
        }
    }
    output::raw(tw.render())?;
    if kind == Kind::Listener
        && running
        && let Some(n) = &name
        && let Some(text) = super::network::listener_routing_text(ctx, ha, n)
    {
        output::raw(text)?;
    }
    if !running {
        output::note(format!("The site is not running. Start it with: {}", ctx.start_hint()));
    }
    Ok(())
}

fn delete(ctx: &Ctx, kind: Kind, a: DeleteArgs) -> CmdResult {
    let w = kind.word();
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
    let missing = format!("{w} name must be specified");
    let name = one_name(w, a.name.as_deref(), &a.extra, Some(&missing), &mut problems);
    if let Some(n) = &name
        && !res.contains(kind.kind(), n)
    {
        problems.push(format!("{w} {n} does not exist in namespace {}", ctx.namespace));
    }
    let timeout = super::check_timeout(&a.timeout, &mut problems);
    problems.finish()?;
    let (Some(name), Some(timeout)) = (name, timeout) else { return Err(fail("invalid input")) };
    ctx.ns.commit(vec![Change::Delete { kind: kind.kind(), name: name.clone() }])?;
    if a.wait && !ctx.wait_deleted(kind.kind(), &name, timeout)? {
        return Err(fail(format!("{} {name:?} not deleted yet, check the status for more information", cap(kind))));
    }
    output::line(format!("{} {name:?} deleted", cap(kind)))?;
    Ok(())
}
