//! `multikeylistener create | status | delete`: a listener whose connections go to one of
//! several routing keys, by priority or by weight (upstream's MultiKeyListener). Shaped like
//! `listener` (`service.rs`): the same arguments, texts and output formats.

use std::collections::{BTreeMap, BTreeSet};

use clap::{Args, Subcommand};
use skupper_core::resources::{
    MultiKeyListener, MultiKeyListenerSpec, MultiKeyStrategy, PriorityStrategy, Resource, WeightedStrategy,
};

use super::validate::{self, Problems};
use super::{CmdResult, Ctx, check_output, fail, one_name};
use crate::output::{self, TabWriter};
use crate::platform::Change;
use crate::platform::config::DEFAULT_SERVICE_HOST;

/// Long help of `multikeylistener`.
pub(super) const MULTIKEY_LONG: &str = "\
A multi-key listener is a connection endpoint in the local site that binds to target workloads \
of several routing keys in remote sites.

With the priority strategy every new connection goes to the first routing key that has a \
reachable connector anywhere in the network; when that key's connectors go away, to the next; \
back to the first when it returns. With the weighted strategy connections are split in \
proportion to the weights among the keys that have a reachable connector. Within a key, a \
connection goes where a listener's would. The port accepts connections only while one of the \
keys has a reachable connector; otherwise connections are refused.";

/// Examples of `multikeylistener`.
pub(super) const MULTIKEY_AFTER: &str = "\
Examples:
  kubectl skupper multikeylistener create db 5432 --priority-keys db-primary,db-replica
  kubectl skupper multikeylistener create web 8080 --weighted-keys web-v1=9,web-v2=1
  kubectl skupper multikeylistener status web";

const CREATE_LONG: &str = "\
Clients at this site use the multi-key listener host and port to establish connections to the \
remote services.

Give the routing keys with exactly one of --priority-keys (in order, highest priority first) \
and --weighted-keys (key=weight pairs).";

const CREATE_AFTER: &str = "\
Examples:
  # Every connection to db-primary while it has a connector, else to db-replica
  kubectl skupper multikeylistener create db 5432 --priority-keys db-primary,db-replica

  # A third of the connections to web-v1, two thirds to web-v2
  kubectl skupper multikeylistener create web 8080 --weighted-keys web-v1=1,web-v2=2";

const STATUS_LONG: &str = "Display status of all multi-key listeners or a specific multi-key listener.";

const STATUS_AFTER: &str = "\
Examples:
  kubectl skupper multikeylistener status
  kubectl skupper multikeylistener status web -o json";

const DELETE_LONG: &str = "Delete a multi-key listener <name>.";

const DELETE_AFTER: &str = "\
Examples:
  kubectl skupper multikeylistener delete web";

/// The most routing keys a strategy takes (upstream's CRD).
const MAX_KEYS: usize = 256;

/// `multikeylistener ...`
#[derive(Debug, Subcommand)]
pub(crate) enum MultiKeyListenerCommand {
    /// create a multi-key listener
    #[command(long_about = CREATE_LONG, after_help = CREATE_AFTER)]
    Create(CreateArgs),
    /// get status of multi-key listeners
    #[command(long_about = STATUS_LONG, after_help = STATUS_AFTER)]
    Status(StatusArgs),
    /// delete a multi-key listener
    #[command(long_about = DELETE_LONG, after_help = DELETE_AFTER)]
    Delete(DeleteArgs),
}

/// `multikeylistener create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// MultiKeyListener name
    #[arg(value_name = "NAME")]
    name: Option<String>,
    /// The port of the local multi-key listener
    #[arg(value_name = "PORT")]
    port: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// Routing keys in priority order, highest first (key[,key...]): every connection goes to
    /// the first one with a reachable connector
    #[arg(long, value_name = "KEYS")]
    priority_keys: Option<String>,
    /// Routing keys with weights (key=weight[,key=weight...]): connections are split by weight
    /// among the keys with a reachable connector
    #[arg(long, value_name = "KEYS")]
    weighted_keys: Option<String>,
    /// The hostname or IP address of the local multi-key listener. Clients at this site use the
    /// listener host and port to establish connections to the remote services. (default 127.0.0.1)
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// raise an error if the operation does not complete in the given period of time (expressed in seconds).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    timeout: String,
    /// Wait for the given status before exiting (when a controller runs the site). Choices: ready, configured, none
    #[arg(long, default_value = "configured", value_name = "STATUS")]
    wait: String,
}

/// `multikeylistener status`.
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

/// `multikeylistener delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// Name
    #[arg(value_name = "NAME")]
    name: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
}

const WORD: &str = "multikeylistener";

pub(super) fn run(ctx: &Ctx, cmd: MultiKeyListenerCommand) -> CmdResult {
    match cmd {
        MultiKeyListenerCommand::Create(a) => create(ctx, a),
        MultiKeyListenerCommand::Status(a) => show(ctx, a),
        MultiKeyListenerCommand::Delete(a) => delete(ctx, a),
    }
}

/// The keys of `--priority-keys` (comma-separated, in order).
fn priority_keys(text: &str, problems: &mut Problems) -> Option<Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut keys = Vec::new();
    for k in text.split(',').map(str::trim) {
        if let Err(e) = validate::resource_name(k) {
            problems.push(format!("--priority-keys: routing key {k:?} is not valid: {e}"));
            return None;
        }
        if !seen.insert(k) {
            problems.push(format!("--priority-keys: routing key {k:?} is given twice; name each key once"));
            return None;
        }
        keys.push(k.to_string());
    }
    Some(keys)
}

/// The keys and weights of `--weighted-keys` (`key=weight`, comma-separated).
fn weighted_keys(text: &str, problems: &mut Problems) -> Option<BTreeMap<String, i64>> {
    let mut keys = BTreeMap::new();
    for pair in text.split(',').map(str::trim) {
        let Some((k, w)) = pair.split_once('=') else {
            problems.push(format!("--weighted-keys: {pair:?} is not key=weight, e.g. web-v1=1,web-v2=2"));
            return None;
        };
        let (k, w) = (k.trim(), w.trim());
        if let Err(e) = validate::resource_name(k) {
            problems.push(format!("--weighted-keys: routing key {k:?} is not valid: {e}"));
            return None;
        }
        let Some(weight) = w.parse::<i64>().ok().filter(|w| (0..=i64::from(u32::MAX)).contains(w)) else {
            problems
                .push(format!("--weighted-keys: weight {w:?} of routing key {k:?} is not a whole number 0 or more"));
            return None;
        };
        if keys.insert(k.to_string(), weight).is_some() {
            problems.push(format!("--weighted-keys: routing key {k:?} is given twice; name each key once"));
            return None;
        }
    }
    if keys.values().all(|w| *w == 0) {
        problems.push("--weighted-keys: every weight is 0, so no connection could go anywhere; give a key a weight");
        return None;
    }
    Some(keys)
}

fn create(ctx: &Ctx, a: CreateArgs) -> CmdResult {
    let w = WORD;
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
    let mut name = None;
    let mut port = None;
    match (&a.name, &a.port) {
        (Some(_), Some(_)) if !a.extra.is_empty() => problems.push("only two arguments are allowed for this command"),
        (Some(n), Some(p)) => {
            if n.is_empty() {
                problems.push(format!("{w} name must not be empty"));
            } else if p.is_empty() {
                problems.push(format!("{w} port must not be empty"));
            } else {
                match validate::resource_name(n) {
                    Ok(()) => name = Some(n.clone()),
                    Err(e) => problems.push(format!("{w} name is not valid: {e}")),
                }
                match validate::atoi(p) {
                    Err(e) => problems.push(format!("{w} port is not valid: {e}")),
                    Ok(v) => match u16::try_from(v) {
                        Ok(v) if v > 0 => port = Some(v),
                        _ if v < 0 => problems.push(format!("{w} port is not valid: value is not positive")),
                        _ => problems.push(format!("{w} port is not valid: value must be between 1 and 65535")),
                    },
                }
            }
        }
        _ => problems.push(format!("{w} name and port must be configured")),
    }
    if let Some(n) = &name
        && res.contains(MultiKeyListener::KIND, n)
    {
        problems.push(format!("There is already a {w} {n} created for namespace {}", ctx.namespace));
    }
    let strategy = match (&a.priority_keys, &a.weighted_keys) {
        (Some(p), None) => priority_keys(p, &mut problems)
            .map(|routing_keys| MultiKeyStrategy { priority: Some(PriorityStrategy { routing_keys }), weighted: None }),
        (None, Some(wk)) => weighted_keys(wk, &mut problems)
            .map(|routing_keys| MultiKeyStrategy { priority: None, weighted: Some(WeightedStrategy { routing_keys }) }),
        _ => {
            problems.push("give exactly one of --priority-keys and --weighted-keys");
            None
        }
    };
    if let Some(p) = strategy.as_ref().and_then(|s| s.problem()) {
        problems.push(format!("strategy is not valid: {p}"));
    }
    if strategy.as_ref().is_some_and(|s| s.keys().len() > MAX_KEYS) {
        problems.push(format!("a strategy takes at most {MAX_KEYS} routing keys"));
    }
    if let Some(h) = &a.host
        && !validate::host(h)
    {
        problems.push("host is not valid: a valid IP address or hostname is expected");
    }
    if res.site.is_none() {
        problems.push(format!(
            "there is no skupper site in this namespace; create one first with {}",
            ctx.hint("site create <name>")
        ));
    }
    let timeout = super::check_timeout(&a.timeout, &mut problems);
    let wait = super::check_wait(&a.wait, &mut problems);
    problems.finish()?;
    let (Some(name), Some(port), Some(timeout), Some(strategy)) = (name, port, timeout, strategy) else {
        return Err(fail("invalid input"));
    };
    // As a listener's: where it listens locally, the Service in front of it on Kubernetes.
    let host = a.host.unwrap_or_else(|| match ctx.ns.as_local() {
        None => name.clone(),
        Some(_) => DEFAULT_SERVICE_HOST.to_string(),
    });
    let spec = MultiKeyListenerSpec { host, port, strategy, ..Default::default() };
    ctx.ns.commit(vec![Change::Put(Resource::MultiKeyListener(MultiKeyListener::new(name.clone(), spec)))])?;
    let word = if ctx.wait_for(MultiKeyListener::KIND, &name, wait, timeout)? {
        wait.map(crate::platform::Until::word).unwrap_or("configured")
    } else {
        "configured"
    };
    output::line(format!("MultiKeyListener {name:?} is {word}."))?;
    if !ctx.ns.running() {
        output::note(format!("The site is not running; start it with: {}", ctx.start_hint()));
    }
    Ok(())
}

/// The strategy in words: `priority a, b` or `weighted a=1, b=2`.
fn strategy_text(s: &MultiKeyStrategy) -> String {
    match (&s.priority, &s.weighted) {
        (Some(p), None) => format!("priority {}", p.routing_keys.join(", ")),
        (None, Some(w)) => {
            format!(
                "weighted {}",
                w.routing_keys.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
            )
        }
        _ => "(not valid)".to_string(),
    }
}

/// The keys that have a destination, from the status.
fn reachable_text(m: &MultiKeyListener) -> String {
    let keys: Vec<String> = match &m.status.strategy {
        Some(s) => match (&s.priority, &s.weighted) {
            (Some(p), _) => p.routing_keys_reachable.clone(),
            (_, Some(w)) => w.routing_keys_reachable.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    if keys.is_empty() { "-".to_string() } else { keys.join(", ") }
}

fn show(ctx: &Ctx, a: StatusArgs) -> CmdResult {
    let w = WORD;
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
    let name = one_name(w, a.name.as_deref(), &a.extra, None, &mut problems);
    if let Some(n) = &name
        && !res.contains(MultiKeyListener::KIND, n)
    {
        problems.push(format!("{w} {n} does not exist in namespace {}", ctx.namespace));
    }
    check_output(a.output.as_deref(), &mut problems);
    problems.finish()?;
    let running = ctx.ns.running();
    let observed = ctx.ns.observe(&res);
    let rows: Vec<MultiKeyListener> =
        observed.multi_key_listeners.into_values().filter(|m| name.as_ref().is_none_or(|n| n == m.name())).collect();
    if rows.is_empty() {
        output::line("No multikeylisteners found")?;
        return Ok(());
    }
    if let Some(f) = &a.output {
        // Exactly the resource, as upstream's CRD defines it: where its connections went is in
        // `network status -o json|yaml` (routers[].status.multiKeyListeners).
        for m in rows {
            let v = Resource::MultiKeyListener(m).to_value();
            output::line(output::encode(f, &v)?)?;
        }
        return Ok(());
    }
    let mut tw = TabWriter::new(8, 8, 1);
    if name.is_some() {
        let m = &rows[0];
        tw.line(format!(
            "Name:\t{}\nStatus:\t{}\nHost:\t{}\nPort:\t{}\nStrategy:\t{}\nKeys with a destination:\t{}\nHas Destination:\t{}\nMessage:\t{}\n",
            m.name(),
            m.status.status.status,
            m.spec.host,
            m.spec.port,
            strategy_text(&m.spec.strategy),
            reachable_text(m),
            m.status.has_destination,
            m.status.status.message
        ));
    } else {
        tw.line("NAME\tSTATUS\tHOST\tPORT\tSTRATEGY\tHAS-DESTINATION\tMESSAGE");
        for m in &rows {
            tw.line(format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                m.name(),
                m.status.status.status,
                m.spec.host,
                m.spec.port,
                strategy_text(&m.spec.strategy),
                m.status.has_destination,
                m.status.status.message
            ));
        }
    }
    output::raw(tw.render())?;
    if running
        && let Some(n) = &name
        && let Some(text) = super::network::multi_key_routing_text(ctx, n)
    {
        output::raw(text)?;
    }
    if !running {
        output::note(format!("The site is not running. Start it with: {}", ctx.start_hint()));
    }
    Ok(())
}

fn delete(ctx: &Ctx, a: DeleteArgs) -> CmdResult {
    let w = WORD;
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
    let missing = format!("{w} name must be specified");
    let name = one_name(w, a.name.as_deref(), &a.extra, Some(&missing), &mut problems);
    if let Some(n) = &name
        && !res.contains(MultiKeyListener::KIND, n)
    {
        problems.push(format!("{w} {n} does not exist in namespace {}", ctx.namespace));
    }
    problems.finish()?;
    let Some(name) = name else { return Err(fail("invalid input")) };
    ctx.ns.commit(vec![Change::Delete { kind: MultiKeyListener::KIND, name: name.clone() }])?;
    output::line(format!("MultiKeyListener {name:?} deleted"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lists_are_checked() {
        let mut p = Problems::default();
        assert_eq!(priority_keys("a, b", &mut p), Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(
            weighted_keys("a=1,b=2", &mut p).map(|m| m.into_iter().collect::<Vec<_>>()).unwrap_or_default(),
            [("a".to_string(), 1), ("b".to_string(), 2)]
        );
        assert!(p.is_empty());
        for bad in ["a,a", "A_b", ""] {
            let mut p = Problems::default();
            assert_eq!(priority_keys(bad, &mut p), None, "{bad}");
        }
        for bad in ["a", "a=x", "a=-1", "a=1,a=2", "a=0"] {
            let mut p = Problems::default();
            assert_eq!(weighted_keys(bad, &mut p), None, "{bad}");
        }
    }
}
