//! `network status`: the network as the running site's routers see it (sites, links and their
//! costs, reachability, path cost and next hop) and where each listener's connections went and
//! why. Also renders the per-listener routing for `listener status NAME`.
//!
//! Everything comes from what the running site's routers report: on the local platform the status
//! files a site process writes every second (`runtime/status/Router-status.yaml`, and
//! `runtime/status-2/` for an HA site's second router), on Kubernetes the ConfigMap the
//! controller keeps (`skupper-network-status`).

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde::Serialize;
use skupper_core::resources::GROUP_PRIMARY;

use super::validate::Problems;
use super::{CmdResult, Ctx, check_output};
use crate::output::{self, TabWriter};
use crate::platform::status::{ListenerRouting, NetworkRecord, RouterReport};
use skupper_router::RouteReason;

/// Long help of `network`.
pub(super) const NETWORK_LONG: &str = "\
Show the application network as this site's routers see it.

Sites learn about each other through the links: each router advertises its links and their costs, \
and every router computes the cheapest path to every other one. A link's cost is the larger of \
the two sides' settings (`link generate --cost`, `token issue --cost`, `link update --cost`); \
the cost of a path is the sum of its links' costs; a connector on the site itself costs 0.";

/// Examples of `network`.
pub(super) const NETWORK_AFTER: &str = "\
Examples:
  kubectl skupper network status
  kubectl skupper -n west network status -o json";

/// Long help of `network status`.
const NETWORK_STATUS_LONG: &str = "\
Show the sites of the network, the links between them with their costs, which sites are \
reachable from this one, at what path cost and through which next hop; this site's links; and, \
for every listener, where its connections went and why.

Routing of a new connection: an idle connector on this site wins; otherwise the target with the \
lowest (open connections + path cost) wins, counting open connections per routing key and next \
hop, so the cheapest path carries connections until its open connections exceed the cost \
difference to an alternative; a target that fails is skipped (failover), whatever its cost.";

/// Examples of `network status`.
const NETWORK_STATUS_AFTER: &str = "\
Examples:
  kubectl skupper network status
  kubectl skupper -n west network status -o yaml";

/// `network ...`
#[derive(Debug, Subcommand)]
pub(crate) enum NetworkCommand {
    /// Show sites, links with their costs, reachability and where connections went
    #[command(long_about = NETWORK_STATUS_LONG, after_help = NETWORK_STATUS_AFTER)]
    Status(StatusArgs),
}

/// `network status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[arg(hide = true)]
    extra: Vec<String>,
    /// print the network status Choices: json, yaml
    #[arg(short = 'o', long, value_name = "FORMAT")]
    output: Option<String>,
}

pub(super) fn run(ctx: &Ctx, cmd: NetworkCommand) -> CmdResult {
    match cmd {
        NetworkCommand::Status(a) => show(ctx, a),
    }
}

/// What `network status -o json|yaml` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NetworkStatus {
    site: String,
    namespace: String,
    site_id: String,
    ha: bool,
    running: bool,
    routers: Vec<RouterReport>,
}

fn show(ctx: &Ctx, a: StatusArgs) -> CmdResult {
    let mut problems = Problems::default();
    if !a.extra.is_empty() {
        problems.push("this command does not need any arguments");
    }
    check_output(a.output.as_deref(), &mut problems);
    let res = ctx.ns.load()?;
    if res.site.is_none() {
        problems.push("there is no skupper site in this namespace");
    }
    problems.finish()?;
    let Some(site) = res.site else { return Err(super::fail("there is no skupper site in this namespace")) };
    let routers = ctx.ns.routers();
    let site_id = match ctx.ns.as_local() {
        Some(home) => home.site_id()?,
        None => site.metadata.uid.clone().unwrap_or_default(),
    };
    let view = NetworkStatus {
        site: site.name().to_string(),
        namespace: ctx.namespace.clone(),
        site_id,
        ha: site.spec.ha,
        running: !routers.is_empty() || ctx.ns.running(),
        routers,
    };
    if let Some(format) = &a.output {
        let value = serde_json::to_value(&view).map_err(|e| super::fail(format!("cannot encode the status: {e}")))?;
        output::line(output::encode(format, &value)?)?;
        return Ok(());
    }
    if view.routers.is_empty() {
        output::line(format!("Site {:?} is not running: the network is unknown.", view.site))?;
        output::note(format!("Start it with: {}", ctx.start_hint()));
        return Ok(());
    }
    let mut text = String::new();
    for r in &view.routers {
        text.push_str(&render_router(&view, r, &res.links));
    }
    output::raw(text.trim_end().to_string() + "\n")?;
    Ok(())
}

/// How a router is named to people: the site name, plus the group for a second router.
fn label(net: &BTreeMap<&str, &NetworkRecord>, id: &str) -> String {
    match net.get(id) {
        Some(n) if n.group.is_empty() || n.group == GROUP_PRIMARY => n.name.clone(),
        Some(n) => format!("{}/{}", n.name, n.group),
        None => id.to_string(),
    }
}

fn render_router(
    view: &NetworkStatus,
    r: &RouterReport,
    links: &BTreeMap<String, skupper_core::resources::Link>,
) -> String {
    let st = &r.status;
    let net: BTreeMap<&str, &NetworkRecord> = st.network.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut out = String::new();
    let reachable = st.network.iter().filter(|n| n.reachable).count();
    let by = match (&r.pid, &r.controller) {
        (Some(pid), _) => format!("pid {pid}"),
        (None, Some(c)) => format!("controller {c}"),
        (None, None) => "not running".to_string(),
    };
    out.push_str(&format!(
        "Site {:?} (namespace {}), router {} ({by}): {} routers in the network, {} reachable.\n\n",
        view.site,
        view.namespace,
        r.group,
        st.network.len(),
        reachable
    ));
    let mut tw = TabWriter::new(0, 8, 2);
    tw.line("SITE\tNAMESPACE\tREACHABLE\tPATH COST\tNEXT HOP\tLINKS (COST)\tCONNECTORS");
    let mut nodes: Vec<&NetworkRecord> = st.network.iter().collect();
    // This router first, then by path cost, unreachable last.
    nodes.sort_by_key(|n| (n.cost.is_none(), n.cost, label(&net, &n.id)));
    for n in nodes {
        let me = n.id == st.router_id;
        let cost = n.cost.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
        let hop = match (&n.next_hop, me) {
            (_, true) => "(this router)".to_string(),
            (Some(h), false) => label(&net, h),
            (None, false) => "-".into(),
        };
        let peers: Vec<String> = n.links.iter().map(|(p, c)| format!("{} ({c})", label(&net, p))).collect();
        let peers = if peers.is_empty() { "-".to_string() } else { peers.join(", ") };
        let keys = if n.connectors.is_empty() { "-".to_string() } else { n.connectors.join(", ") };
        tw.line(format!(
            "{}\t{}\t{}\t{cost}\t{hop}\t{peers}\t{keys}",
            label(&net, &n.id),
            n.namespace,
            if n.reachable { "yes" } else { "no" }
        ));
    }
    out.push_str(&tw.render());

    if !st.links.is_empty() {
        let mut tw = TabWriter::new(0, 8, 2);
        tw.line("LINK\tSTATUS\tREMOTE SITE\tCOST\tSETTING\tMESSAGE");
        for (name, l) in &st.links {
            // This side's setting; the effective cost is the larger of both sides'.
            let setting = links.get(name).map(|k| k.spec.effective_cost().to_string()).unwrap_or_else(|| "1".into());
            let remote = if l.remote_site_name.is_empty() { "-".to_string() } else { l.remote_site_name.clone() };
            tw.line(format!("{name}\t{}\t{remote}\t{}\t{setting}\t{}", l.phase, l.cost, l.message));
        }
        out.push_str(&format!("\nLinks (COST is the larger of both sides' settings):\n{}", tw.render()));
    }
    if !st.incoming.is_empty() {
        let mut tw = TabWriter::new(0, 8, 2);
        tw.line("REMOTE SITE\tREMOTE LINK\tCOST");
        for i in &st.incoming {
            tw.line(format!("{}\t{}\t{}", i.remote_site_name, i.link_name, i.cost));
        }
        out.push_str(&format!("\nIncoming links:\n{}", tw.render()));
    }
    if !st.listeners.is_empty() {
        out.push_str(
            "\nListener routing (since the site started; an idle local connector wins, otherwise the lowest\n\
             open connections + path cost; a target that fails is skipped):\n",
        );
        let mut tw = TabWriter::new(0, 8, 2);
        tw.line("LISTENER\tROUTING KEY\tTARGET\tNEXT HOP\tCONNECTIONS\tOPEN NOW\tWHY");
        for (name, l) in &st.listeners {
            for row in routing_rows(&net, l) {
                tw.line(format!("{name}\t{}\t{row}", l.routing_key));
            }
        }
        out.push_str(&tw.render());
        for (name, l) in &st.listeners {
            if let Some(last) = last_line(&net, l) {
                out.push_str(&format!("Last connection of listener {name}: {last}\n"));
            }
        }
    }
    if !st.multi_key_listeners.is_empty() {
        out.push_str(&multi_key_text(&net, &st.multi_key_listeners));
    }
    out.push('\n');
    out
}

/// The routing of multi-key listeners: which keys have a destination, where connections went by
/// key, and why the last one went to its key.
fn multi_key_text(
    net: &BTreeMap<&str, &NetworkRecord>,
    listeners: &BTreeMap<String, crate::platform::status::MultiKeyRouting>,
) -> String {
    let mut out = String::from(
        "\nMulti-key listener routing (since the site started; priority: the first key with a reachable\n\
         connector takes every connection; weighted: connections split by weight among the keys that have one):\n",
    );
    let mut tw = TabWriter::new(0, 8, 2);
    tw.line("MULTIKEYLISTENER\tSTRATEGY\tKEYS WITH A DESTINATION\tLISTENING\tCONNECTIONS BY KEY");
    for (name, m) in listeners {
        let reachable = if m.keys_reachable.is_empty() { "-".to_string() } else { m.keys_reachable.join(", ") };
        let by_key = m.by_key.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>();
        let by_key = if by_key.is_empty() { "-".to_string() } else { by_key.join(", ") };
        let listening = if m.listening { "yes" } else { "no (connections refused)" };
        tw.line(format!("{name}\t{}\t{reachable}\t{listening}\t{by_key}", m.strategy));
    }
    out.push_str(&tw.render());
    for (name, m) in listeners {
        let key = m.routing.last_decision.as_ref().and_then(|d| d.key.as_ref());
        if let (Some(key), Some(last)) = (key, last_line(net, &m.routing)) {
            out.push_str(&format!(
                "Last connection of multikeylistener {name}: key {} ({}); {last}\n",
                key.routing_key, key.reason
            ));
        }
    }
    out
}

/// The routing of multi-key listener `name` for `multikeylistener status NAME`, per running
/// router. `None` when no running router reports it.
pub(super) fn multi_key_routing_text(ctx: &Ctx, name: &str) -> Option<String> {
    let mut out = String::new();
    for r in ctx.ns.routers() {
        let Some(m) = r.status.multi_key_listeners.get(name) else { continue };
        let net: BTreeMap<&str, &NetworkRecord> = r.status.network.iter().map(|n| (n.id.as_str(), n)).collect();
        let one = BTreeMap::from([(name.to_string(), m.clone())]);
        out.push_str(multi_key_text(&net, &one).trim_start());
    }
    (!out.is_empty()).then_some(out)
}

/// `TARGET\tNEXT HOP\tCONNECTIONS\tOPEN NOW\tWHY` rows of one listener (and one for refused
/// connections).
fn routing_rows(net: &BTreeMap<&str, &NetworkRecord>, l: &ListenerRouting) -> Vec<String> {
    let mut rows = Vec::new();
    for p in &l.paths {
        let open = l.open_by_next_hop.get(&p.next_hop).copied().unwrap_or(0);
        let why: Vec<String> = p.reasons.iter().map(|(r, n)| format!("{} {n}", reason_word(*r))).collect();
        let hop = if p.next_hop == p.target && net.get(p.target.as_str()).is_some_and(|n| n.hops == Some(0)) {
            "(local)".to_string()
        } else {
            label(net, &p.next_hop)
        };
        rows.push(format!("{}\t{hop}\t{}\t{open}\t{}", label(net, &p.target), p.connections, why.join(", ")));
    }
    if l.unrouted > 0 {
        rows.push(format!("-\t-\t{}\t-\tno reachable target", l.unrouted));
    }
    if rows.is_empty() {
        rows.push("-\t-\t0\t-\tno connection yet".to_string());
    }
    rows
}

fn reason_word(r: RouteReason) -> &'static str {
    match r {
        RouteReason::IdleLocal => "idle-local",
        RouteReason::LowestScore => "lowest-score",
        RouteReason::Failover => "failover",
    }
}

/// The last decision of a listener in one line: where, why, and every candidate's score.
fn last_line(net: &BTreeMap<&str, &NetworkRecord>, l: &ListenerRouting) -> Option<String> {
    let d = l.last_decision.as_ref()?;
    let scores: Vec<String> = d
        .candidates
        .iter()
        .map(|c| {
            let via = if c.local { "local".to_string() } else { format!("via {}", label(net, &c.next_hop)) };
            format!("{} {via}: {} open + cost {} = {}", label(net, &c.target), c.open, c.path_cost, c.score)
        })
        .collect();
    let chosen_local = d.candidates.iter().any(|c| c.local && c.target == d.target);
    let path = if chosen_local { "local connector".to_string() } else { format!("via {}", label(net, &d.next_hop)) };
    let mut line = format!("{} {path} ({}); scores: {}", label(net, &d.target), d.reason.describe(), scores.join("; "));
    if !d.failed.is_empty() {
        line.push_str(&format!("; failed first: {}", d.failed.join("; ")));
    }
    Some(line)
}

/// The routing of listener `name` for `listener status NAME`: a table per running router, and the
/// last decision. `None` when no running router reports the listener.
pub(super) fn listener_routing_text(ctx: &Ctx, ha: bool, name: &str) -> Option<String> {
    let mut out = String::new();
    for r in ctx.ns.routers() {
        let Some(l) = r.status.listeners.get(name) else { continue };
        let net: BTreeMap<&str, &NetworkRecord> = r.status.network.iter().map(|n| (n.id.as_str(), n)).collect();
        if ha {
            out.push_str(&format!("Routing by router {} (since it started):\n", r.group));
        } else {
            out.push_str("Routing (since the site started):\n");
        }
        let mut tw = TabWriter::new(0, 8, 2);
        tw.line("  TARGET\tNEXT HOP\tCONNECTIONS\tOPEN NOW\tWHY");
        for row in routing_rows(&net, l) {
            tw.line(format!("  {row}"));
        }
        out.push_str(&tw.render());
        if let Some(last) = last_line(&net, l) {
            out.push_str(&format!("Last connection: {last}\n"));
        }
    }
    (!out.is_empty()).then_some(out)
}
