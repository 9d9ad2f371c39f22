//! `token issue` and `token redeem` on the local platform. Issuing works here (upstream's
//! system sites cannot issue tokens): the site's own grant server answers redemptions while
//! the site runs.

use std::path::Path;
use std::time::Duration;

use clap::Args;
use skupper_core::duration::GoDuration;
use skupper_core::resources::{AccessToken, Resource};

use super::validate::{self, Problems};
use super::{CmdResult, Ctx, TokenCommand, fail};
use crate::grant::redeem::{RedeemError, Redeemed};
use crate::grant::{self};
use crate::output;
use crate::platform::local::{Changes, Resources, write_atomic};
use crate::platform::{now_unix, uuid_v4};
use skupper_core::grant::RedeemFailure as Failure;

/// `token issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// File to write the token to
    #[arg(value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    file: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// The period of time in which an access token for this grant can be redeemed.
    #[arg(long, default_value = "15m", value_name = "DURATION")]
    expiration_window: String,
    /// The number of times an access token for this grant can be redeemed.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_name = "N")]
    redemptions_allowed: i64,
    /// the configured "expense" of sending traffic over the link.
    #[arg(long, default_value = "1", allow_negative_numbers = true, value_name = "N")]
    cost: String,
    /// raise an error if the operation does not complete in the given period of time (expressed in seconds).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    timeout: String,
}

/// `token redeem`.
#[derive(Debug, Args)]
pub struct RedeemArgs {
    /// Token file to redeem
    #[arg(value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    file: Option<String>,
    #[arg(hide = true)]
    extra: Vec<String>,
    /// raise an error if the operation does not complete in the given period of time (expressed in seconds).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    timeout: String,
}

pub(super) fn run(ctx: &Ctx, cmd: TokenCommand) -> CmdResult {
    match cmd {
        TokenCommand::Issue(a) => issue(ctx, a),
        TokenCommand::Redeem(a) => redeem_cmd(ctx, a),
        TokenCommand::Inspect(a) => super::inspect::run(a),
    }
}

fn check_timeout(value: &str, problems: &mut Problems) -> Option<GoDuration> {
    let d = validate::duration("timeout", value, problems)?;
    match skupper_core::grant::validate_timeout(d) {
        Ok(()) => Some(d),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    }
}

fn issue(ctx: &Ctx, a: IssueArgs) -> CmdResult {
    let mut problems = Problems::default();
    let res = ctx.home.load()?;
    let mut file = None;
    if a.file.is_none() {
        problems.push("file name must be configured");
    } else if !a.extra.is_empty() {
        problems.push("only one argument is allowed for this command");
    } else if let Some(f) = a.file.as_deref() {
        if f.is_empty() {
            problems.push("file name must not be empty");
        } else if let Err(e) = validate::file_path(f) {
            problems.push(format!("token file name is not valid: {e}"));
        } else if Path::new(f).is_dir() {
            problems.push("token file name is a directory");
        } else if let Err(e) = probe_writable(f) {
            problems.push(format!("invalid token file name: {e}"));
        } else {
            file = Some(f.to_string());
        }
    }
    let site = match &res.site {
        None => {
            problems.push(format!("A site must exist in namespace {} before a token can be created", ctx.namespace));
            None
        }
        Some(s) if s.spec.edge => {
            problems.push("Edge sites cannot accept incoming links from remote sites");
            None
        }
        Some(s) if !s.spec.link_access_enabled() => {
            problems.push("You must enable link access for this site before you can create a token.");
            None
        }
        Some(s) => Some(s.clone()),
    };
    if let Err(e) = skupper_core::grant::validate_redemptions(a.redemptions_allowed) {
        problems.push(e.to_string());
    }
    let window = validate::duration("expiration-window", &a.expiration_window, &mut problems);
    if let Some(w) = window
        && let Err(e) = skupper_core::grant::validate_expiration_window(w)
    {
        problems.push(e.to_string());
    }
    check_timeout(&a.timeout, &mut problems);
    let cost = validate::cost(&a.cost, &mut problems);
    problems.finish()?;
    let (Some(file), Some(site), Some(window), Some(cost)) = (file, site, window, cost) else {
        return Err(fail("invalid input"));
    };

    let home = &ctx.home;
    let access = match home.access()? {
        Some(a) => a,
        None => home.ensure_access(None, &[])?,
    };
    let grant_ca = home.grant_ca()?;
    let name = format!("{}-{}", site.name(), uuid_v4()?);
    let now = now_unix();
    let mut g = grant::new_grant(&name, &uuid_v4()?, a.redemptions_allowed, window);
    grant::process(&mut g, &access.grant_url_base(), &grant_ca.cert_pem, now)?;
    let token = grant::token_for(&g, site.name(), cost, now);
    let token_yaml = output::to_yaml(&Resource::AccessToken(token).to_value())?;

    let mut changes = Changes::default();
    changes.put_resource(home, &Resource::AccessGrant(g))?;
    changes.commit()?;
    if let Err(e) = write_atomic(Path::new(&file), token_yaml.as_bytes(), 0o600) {
        // Nothing half-created: without its token file the grant is useless.
        let mut undo = Changes::default();
        undo.delete(home.resource_path("AccessGrant", &name));
        let _ = undo.commit();
        return Err(fail(format!("could not write to file {file}: {e:#}")));
    }
    let prog = &ctx.prog;
    output::raw(format!(
        "\nGrant {name:?} is ready\nToken file {file} created\n\nTransfer this file to a remote site. At the remote site,\n\
         create a link to this site using the \"{prog} token redeem\" command:\n\n\t{prog} token redeem <file>\n\n\
         The token expires after {} use(s) or after {window}.\n",
        a.redemptions_allowed
    ))?;
    if home.running_pid().is_none() {
        output::note(format!(
            "Warning: site {:?} is not running; the token can only be redeemed while it runs. Start it with: {}",
            site.name(),
            ctx.hint("system start")
        ));
    }
    Ok(())
}

/// Upstream checks that a temporary file can be created next to the token file.
fn probe_writable(file: &str) -> Result<(), String> {
    let path = Path::new(file);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let probe = dir.join(format!(
        ".{}.probe-{}",
        path.file_name().and_then(|f| f.to_str()).unwrap_or("token"),
        std::process::id()
    ));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

fn redeem_cmd(ctx: &Ctx, a: RedeemArgs) -> CmdResult {
    let mut problems = Problems::default();
    let res = ctx.home.load()?;
    let mut file = None;
    if a.file.is_none() {
        problems.push("token file name must be configured");
    } else if !a.extra.is_empty() {
        problems.push("only one argument is allowed for this command");
    } else if let Some(f) = a.file.as_deref() {
        if f.is_empty() {
            problems.push("file name must not be empty");
        } else if let Err(e) = validate::file_path(f) {
            problems.push(format!("token file name is not valid: {e}"));
        } else {
            file = Some(f.to_string());
        }
    }
    if res.site.is_none() {
        problems.push(format!("A site must exist in namespace {} before a token can be redeemed", ctx.namespace));
    }
    if let Some(f) = &file
        && let Err(e) = std::fs::metadata(f)
    {
        problems.push(format!("token file does not exist: {e}"));
    }
    let timeout = check_timeout(&a.timeout, &mut problems);
    problems.finish()?;
    let (Some(file), Some(timeout)) = (file, timeout) else { return Err(fail("invalid input")) };

    let text = std::fs::read_to_string(&file).map_err(|e| fail(format!("unable to read token file - {e}")))?;
    let token = match crate::platform::local::parse_documents(&text) {
        Ok(docs) => match <[Resource; 1]>::try_from(docs) {
            Ok([Resource::AccessToken(t)]) => t,
            _ => return Err(fail(format!("{file} is not a token: expected one AccessToken (made by token issue)"))),
        },
        Err(e) => return Err(fail(format!("{file} is not a token: {e:#}"))),
    };
    if token.name().is_empty() {
        return Err(fail("token name is required"));
    }
    let mut changes = Changes::default();
    let redeemed = redeem_into(ctx, &res, &token, timeout, &mut changes)?;
    changes.commit()?;
    output::line(format!("Token {:?} has been redeemed", token.name()))?;
    after_links_added(ctx, &redeemed);
    Ok(())
}

/// Tells what happens next with new links.
pub(super) fn after_links_added(ctx: &Ctx, redeemed: &Redeemed) {
    let names: Vec<&str> = redeemed.links.iter().map(|l| l.name()).collect();
    if ctx.home.running_pid().is_some() {
        output::note(format!(
            "Link {} added; the running site connects it now. Check with: {}",
            names.join(", "),
            ctx.hint("link status")
        ));
    } else {
        output::note(format!(
            "Link {} added; it connects when the site runs. Start it with: {}",
            names.join(", "),
            ctx.hint("system start")
        ));
    }
}

/// Redeems `token` for this site and stages the Secret and Links (cost from `linkCost`) into
/// `changes`; nothing is written here. Conflicting names are refused before contacting the
/// issuing site, so a refused redemption never uses up the token.
pub(super) fn redeem_into(
    ctx: &Ctx,
    res: &Resources,
    token: &AccessToken,
    timeout: GoDuration,
    changes: &mut Changes,
) -> Result<Redeemed, super::CliError> {
    let name = token.name();
    let conflict = |r: &Resources, n: &str| {
        if r.links.contains_key(n) {
            Some(format!("Link {n:?}"))
        } else if r.secrets.contains_key(n) {
            Some(format!("Secret {n:?}"))
        } else {
            None
        }
    };
    if let Some(what) = conflict(res, name) {
        return Err(fail(format!(
            "Token {name:?} was already redeemed here: {what} exists in namespace {}. \
             To link again, delete it first ({}) or redeem a new token",
            ctx.namespace,
            ctx.hint(&format!("link delete {name}"))
        )));
    }
    let subject = ctx.home.site_id()?;
    let secs = u64::try_from(timeout.as_secs()).unwrap_or(60).max(1);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(anyhow::Error::from)?;
    let mut redeemed = rt
        .block_on(grant::redeem::redeem(token, &subject, Duration::from_secs(secs)))
        .map_err(|e| fail(redeem_failure(ctx, name, &e)))?;
    if token.spec.link_cost > 0 {
        for l in &mut redeemed.links {
            l.spec.cost = token.spec.link_cost;
        }
    }
    for n in std::iter::once(redeemed.secret.name()).chain(redeemed.links.iter().map(|l| l.name())) {
        if n != name
            && let Some(what) = conflict(res, n)
        {
            return Err(fail(format!(
                "Token {name:?} was redeemed, but {what} already exists in namespace {}; nothing was written. \
                 Delete it ({}) and redeem a new token",
                ctx.namespace,
                ctx.hint(&format!("link delete {n}"))
            )));
        }
    }
    changes.put_resource(&ctx.home, &Resource::Secret(redeemed.secret.clone()))?;
    for l in &redeemed.links {
        changes.put_resource(&ctx.home, &Resource::Link(l.clone()))?;
    }
    Ok(redeemed)
}

/// One clear sentence per cause, and what to do.
fn redeem_failure(ctx: &Ctx, name: &str, e: &RedeemError) -> String {
    let new_token = format!("Ask the issuing site for a new token ({} token issue <file> on that site)", ctx.prog);
    match e {
        RedeemError::Refused(Failure::Expired { at }) => {
            let when = at.as_deref().map(|t| format!(" (at {t})")).unwrap_or_default();
            format!("Token {name:?} has expired{when}: its grant's expiration window has passed.\n{new_token}.")
        }
        RedeemError::Refused(Failure::UsedUp { .. }) => format!(
            "Token {name:?} is used up: it was already redeemed as many times as it allows.\n{new_token}; \
             use --redemptions-allowed to allow more redemptions."
        ),
        RedeemError::Refused(Failure::UnknownGrant) => format!(
            "The issuing site does not know token {name:?} (no such grant): the grant was deleted, the site \
             was re-created, or (on upstream Skupper sites) the token expired.\n{new_token}."
        ),
        RedeemError::Refused(Failure::WrongCode) => format!(
            "The issuing site refused the code of token {name:?}: the token file was altered or damaged.\n\
             Redeem the original file, or {}.",
            new_token.replacen("Ask", "ask", 1)
        ),
        RedeemError::Refused(other) => format!("Token {name:?} could not be redeemed: {other}."),
        RedeemError::Unreachable { .. } | RedeemError::Timeout { .. } => format!(
            "Token {name:?} could not be redeemed: {e}.\nCheck that the issuing site is running ({} system start \
             on that site) and reachable from this host, then redeem again.",
            ctx.prog
        ),
        RedeemError::Tls { .. } => format!(
            "Token {name:?} could not be redeemed: {e}.\nThe token's CA does not belong to the site at the \
             token's URL (a token from another site, or the site was re-created). {new_token}."
        ),
        other => format!("Token {name:?} could not be redeemed: {other}.\n{new_token}."),
    }
}
