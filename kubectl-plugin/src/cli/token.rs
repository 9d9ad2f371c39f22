//! `token issue` and `token redeem` on the local platform. Issuing works here (upstream's
//! system sites cannot issue tokens): the site's own grant server answers redemptions while
//! the site runs.

use std::path::Path;
use std::time::Duration;

use clap::Args;
use skupper_core::resources::{AccessGrant, Link, Resource};

use super::validate::{self, Problems};
use super::{CmdResult, Ctx, TokenCommand, check_timeout, fail};
use crate::grant;
use crate::output;
use crate::platform::local::{check_replaceable, write_user_file};
use crate::platform::resources::parse_documents;
use crate::platform::{Change, TokenRedeemError, now_unix, uuid_v4};

/// `token issue`.
#[derive(Debug, Args)]
pub(crate) struct IssueArgs {
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
pub(crate) struct RedeemArgs {
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

fn issue(ctx: &Ctx, a: IssueArgs) -> CmdResult {
    let mut problems = Problems::default();
    let res = ctx.ns.load()?;
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
        } else if let Err(e) = check_replaceable(Path::new(f)) {
            problems.push(format!("invalid token file name: {e}"));
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
    let timeout = check_timeout(&a.timeout, &mut problems);
    let cost = validate::cost(&a.cost, &mut problems);
    problems.finish()?;
    let (Some(file), Some(site), Some(window), Some(cost)) = (file, site, window, cost) else {
        return Err(fail("invalid input"));
    };

    let name = format!("{}-{}", site.name(), uuid_v4()?);
    let timeout = timeout.unwrap_or(Duration::from_secs(60));
    let g = grant::new_grant(&name, &uuid_v4()?, a.redemptions_allowed, window);
    let g = ctx.ns.issue_grant(&site, g, timeout)?;
    let token = grant::token_for(&g, site.name(), cost, now_unix());
    let token_yaml = output::to_yaml(&Resource::AccessToken(token).to_value())?;
    if let Err(e) = write_user_file(Path::new(&file), token_yaml.as_bytes(), 0o600) {
        // Nothing half-created: without its token file the grant is useless.
        let _ = ctx.ns.commit(vec![Change::Delete { kind: AccessGrant::KIND, name: name.clone() }]);
        return Err(fail(format!("could not write to file {file}: {e:#}")));
    }
    let prog = &ctx.prog;
    output::raw(format!(
        "\nGrant {name:?} is ready\nToken file {file} created\n\nTransfer this file to a remote site. At the remote site,\n\
         create a link to this site using the \"{prog} token redeem\" command:\n\n\t{prog} token redeem <file>\n\n\
         The token expires after {} use(s) or after {window}.\n",
        a.redemptions_allowed
    ))?;
    if !ctx.ns.running() {
        output::note(format!(
            "Warning: site {:?} is not running; the token can only be redeemed while it runs. Start it with: {}",
            site.name(),
            ctx.start_hint()
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
    let res = ctx.ns.load()?;
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

    let text = crate::input::read_file(Path::new(&file), crate::input::TOKEN_FILE_LIMIT).map_err(|e| match e {
        crate::input::ReadError::TooLarge { limit } => fail(format!(
            "token file {file} is larger than {}: a token is about 2 KiB; redeem the file that token issue wrote",
            crate::input::size(limit)
        )),
        crate::input::ReadError::Io(e) => fail(format!("unable to read token file - {e}")),
    })?;
    let token = match parse_documents(&text) {
        Ok(docs) => match <[Resource; 1]>::try_from(docs) {
            Ok([Resource::AccessToken(t)]) => t,
            _ => return Err(fail(format!("{file} is not a token: expected one AccessToken (made by token issue)"))),
        },
        Err(e) => return Err(fail(format!("{file} is not a token: {e:#}"))),
    };
    if token.name().is_empty() {
        return Err(fail("token name is required"));
    }
    let name = token.name();
    let links = ctx.ns.redeem(&res, &token, timeout).map_err(|e| redeem_error(ctx, name, e))?;
    output::line(format!("Token {:?} has been redeemed", token.name()))?;
    after_links_added(ctx, &links);
    Ok(())
}

/// What the CLI says when a redemption fails: one clear sentence per cause, and what to do.
pub(super) fn redeem_error(ctx: &Ctx, name: &str, e: TokenRedeemError) -> super::CliError {
    match e {
        TokenRedeemError::AlreadyRedeemed { what } => fail(format!(
            "Token {name:?} was already redeemed here: {what} exists in namespace {}. \
             To link again, delete it first ({}) or redeem a new token",
            ctx.namespace,
            ctx.hint(&format!("link delete {name}"))
        )),
        TokenRedeemError::NameTaken { what, name: taken } => fail(format!(
            "Token {name:?} was redeemed, but {what} already exists in namespace {}; nothing was written. \
             Delete it ({}) and redeem a new token",
            ctx.namespace,
            ctx.hint(&format!("link delete {taken}"))
        )),
        TokenRedeemError::Refused(e) => fail(grant::redeem_failure(&ctx.prog, name, &e)),
        TokenRedeemError::Reported(msg) => fail(msg),
        TokenRedeemError::Other(e) => super::CliError::Failed(e),
    }
}

/// Tells what happens next with new links.
pub(super) fn after_links_added(ctx: &Ctx, links: &[Link]) {
    let names: Vec<&str> = links.iter().map(|l| l.name()).collect();
    if ctx.ns.running() {
        output::note(format!(
            "Link {} added; the running site connects it now. Check with: {}",
            names.join(", "),
            ctx.hint("link status")
        ));
    } else {
        output::note(format!(
            "Link {} added; it connects when the site runs. Start it with: {}",
            names.join(", "),
            ctx.start_hint()
        ));
    }
}
