//! Long help and examples of every command. The first sentence of each text is upstream
//! Skupper's (`internal/cmd/skupper/*/*.go`, `Long:` and `Example:`), then what differs on the
//! local platform; examples follow the procedures of `scripts/demo.sh` (west accepts links, east
//! redeems a token, south applies a generated Link, a connector on west, listeners elsewhere).

/// Heading of the flags every command takes.
pub(super) const GLOBAL: &str = "Global Options";

/// `kubectl skupper` itself.
pub(super) const ROOT_LONG: &str = "\
Skupper: connect application components across sites with expiring tokens, static links and \
cost-based routing.

Two platforms, one set of commands:
  kubernetes  a site is a namespace of a cluster: install the CRDs once with `kubectl skupper \
install`, run each namespace's site with `kubectl skupper controller` (on this host, or in the \
cluster: `controller manifest`); resources are skupper.io/v2alpha1 objects (kubectl get links).
  local       a site is a process on this host (`kubectl skupper system start`); resources are \
files under $XDG_DATA_HOME/kubectl-skupper.
The platform is --platform, else $SKUPPER_PLATFORM, else kubernetes when a kubeconfig is found \
(--kubeconfig, $KUBECONFIG, ~/.kube/config or a pod's service account), else local. The \
namespace is -n, else (kubernetes) the kubeconfig context's, else \"default\".";

/// Examples and exit codes of `kubectl skupper`.
pub(super) const ROOT_AFTER: &str = "\
Examples:
  # Kubernetes: once per cluster, then a controller per namespace (here: on this host)
  kubectl skupper install
  kubectl skupper -n west controller &
  kubectl skupper -n west site create west --enable-link-access

  # Local: west accepts links; east links to it with a token
  kubectl skupper -n west site create west --enable-link-access
  kubectl skupper -n west system start
  kubectl skupper -n west token issue ~/west.token
  kubectl skupper -n east site create east
  kubectl skupper -n east system start
  kubectl skupper -n east token redeem ~/west.token
  kubectl skupper -n east link status

Exit status:
  0  the command succeeded
  1  the command failed (the message says what to do next)
  2  bad input: a command's own checks print their problems on standard output, one per line
     (as upstream skupper does); command-line syntax errors (unknown flag, missing value) are
     printed on standard error";

/// `site`.
pub(super) const SITE_LONG: &str = "\
A site is a place where components of your application are running. Sites are linked to form \
application networks.

A namespace holds one active site. On Kubernetes it is a Site object run by the namespace's \
controller (`kubectl skupper controller`); on the local platform a process on this host started \
with `kubectl skupper system start`, its files in \
$XDG_DATA_HOME/kubectl-skupper/namespaces/<namespace> (default ~/.local/share/kubectl-skupper/...).";

/// Examples of `site`.
pub(super) const SITE_AFTER: &str = "\
Examples:
  kubectl skupper site create my-site
  kubectl skupper site status";

/// `site create`.
pub(super) const SITE_CREATE_LONG: &str = "\
A site is a place where components of your application are running.
Sites are linked to form application networks.
There can be only one site definition per namespace.

With --enable-link-access the site accepts links from remote sites and runs a grant server that \
redeems the tokens it issues. On Kubernetes the command waits (--wait, --timeout) until the \
namespace's controller reports the site ready; where the site listens is the controller's \
(--bind-host there, or a Service of --link-access-type in a cluster). On the local platform it \
listens on --bind-host once started with `kubectl skupper system start`.";

/// Examples of `site create`.
pub(super) const SITE_CREATE_AFTER: &str = "\
Examples:
  # A site that accepts links and token redemptions from remote sites
  kubectl skupper -n west site create west --enable-link-access

  # Listen on every interface; remote sites reach this one as west.example.com
  kubectl skupper -n west site create west --enable-link-access --bind-host 0.0.0.0 \\
      --endpoint-host west.example.com

  # A site that only links to others
  kubectl skupper -n east site create east";

/// `site generate`.
pub(super) const SITE_GENERATE_LONG: &str = "\
Generate a Site resource as YAML (or JSON with -o json) without creating it: the Site \
`site create` would store, with the same flags. Apply it with `system apply -f` (or kubectl \
apply). Nothing is stored, so the namespace may already have a site.";

/// Examples of `site generate`.
pub(super) const SITE_GENERATE_AFTER: &str = "\
Examples:
  kubectl skupper site generate west --enable-link-access > site-west.yaml
  kubectl skupper -n west system apply -f site-west.yaml";

/// `site update`.
pub(super) const SITE_UPDATE_LONG: &str = "\
Change site settings of a given site.

Only the settings given change (upstream rebuilds the whole site from the flags). On the local \
platform a new bind host takes effect when the site restarts; on Kubernetes the command waits \
for the controller to apply the change.";

/// Examples of `site update`.
pub(super) const SITE_UPDATE_AFTER: &str = "\
Examples:
  kubectl skupper site update my-site --enable-link-access";

/// `site status`.
pub(super) const SITE_STATUS_LONG: &str = "Display the current status of a site.";

/// Examples of `site status`.
pub(super) const SITE_STATUS_AFTER: &str = "\
Examples:
  kubectl skupper -n west site status
  kubectl skupper -n west site status -o yaml";

/// `site delete`.
pub(super) const SITE_DELETE_LONG: &str = "\
Delete a site.

A running local site is stopped first; on Kubernetes the controller stops its router and waits \
for a new Site. Links, listeners and connectors stay unless --all is given.";

/// Examples of `site delete`.
pub(super) const SITE_DELETE_AFTER: &str = "\
Examples:
  kubectl skupper site delete my-site
  kubectl skupper site delete --all";

/// `link`.
pub(super) const LINK_LONG: &str = "\
A site-to-site communication channel. Links serve as a transport for application connections \
and requests. A set of linked sites constitute a network.";

/// Examples of `link`.
pub(super) const LINK_AFTER: &str = "\
Examples:
  kubectl skupper link generate
  kubectl skupper link status";

/// `link generate`.
pub(super) const LINK_GENERATE_LONG: &str = "\
Generate a new link resource as a YAML output, unless explicitly specified otherwise using the \
--output flag. The resultant output needs to be applied in the site in which we want to create \
the link.

The output holds one Link per router group and the Secret with a client certificate issued by \
this site's CA. It is a credential: transfer it privately. The site needs link access \
(site create/update --enable-link-access).";

/// Examples of `link generate`.
pub(super) const LINK_GENERATE_AFTER: &str = "\
Examples:
  # On west: a Link to west, with cost 2, and its client certificate
  kubectl skupper -n west link generate --cost 2 > link-to-west.yaml

  # On south: apply it; the running site connects to west
  kubectl skupper -n south system apply -f link-to-west.yaml
  kubectl skupper -n south link status

  # The same documents as JSON
  kubectl skupper -n west link generate -o json";

/// `link status`.
pub(super) const LINK_STATUS_LONG: &str = "\
Display the status of links in the current site.

Without a name, a table of every link, then the links remote sites made to this one; with a \
name, that link's details. -o prints the Link resources.";

/// Examples of `link status`.
pub(super) const LINK_STATUS_AFTER: &str = "\
Examples:
  kubectl skupper -n east link status
  kubectl skupper -n south link status link-west-skupper-router -o yaml";

/// `link update`.
pub(super) const LINK_UPDATE_LONG: &str = "\
Change link settings.

Only the settings given change (upstream resets the cost to 1 when --cost is omitted). A running \
site applies a new cost at once; on Kubernetes the command waits (--wait, --timeout) until the \
controller reports the link ready again.";

/// Examples of `link update`.
pub(super) const LINK_UPDATE_AFTER: &str = "\
Examples:
  # Make the link to west more expensive so traffic prefers other paths
  kubectl skupper -n south link update link-west-skupper-router --cost 5";

/// `link delete`.
pub(super) const LINK_DELETE_LONG: &str = "\
Delete a link by name.

The Secret the link uses is kept.";

/// Examples of `link delete`.
pub(super) const LINK_DELETE_AFTER: &str = "\
Examples:
  kubectl skupper link delete link-west-skupper-router";

/// `token`.
pub(super) const TOKEN_LONG: &str = "\
A token contains connection information and necessary credentials for one Skupper service \
network to connect to another.
Issue the token on the site that was configured to allow incoming links.
Redeem the token on the other site.";

/// Examples of `token`.
pub(super) const TOKEN_AFTER: &str = "\
Examples:
  kubectl skupper -n west token issue ~/west.token
  kubectl skupper -n east token redeem ~/west.token";

/// `token issue`.
pub(super) const TOKEN_ISSUE_LONG: &str = "\
Issue a token file redeemable for a link to the current site.

The site needs link access (site create --enable-link-access) and must be running when the \
token is redeemed: its grant server answers the redemption. On Kubernetes the namespace's \
controller processes the grant; the command waits for it. The token file is a credential: \
transfer it privately.";

/// Examples of `token issue`.
pub(super) const TOKEN_ISSUE_AFTER: &str = "\
Examples:
  # On west: a token usable once within 15 minutes
  kubectl skupper -n west token issue ~/west.token

  # Usable three times within an hour; links made from it cost 2
  kubectl skupper -n west token issue ~/west.token --redemptions-allowed 3 \\
      --expiration-window 1h --cost 2";

/// `token redeem`.
pub(super) const TOKEN_REDEEM_LONG: &str = "\
Redeem a token file in order to create a link to a remote site.

The issuing site must be running and reachable. Redeeming writes a Link and its Secret into \
this namespace; a running site connects the link at once. On the local platform this command \
redeems the token itself; on Kubernetes it creates an AccessToken and waits while the \
namespace's controller redeems it, and a refusal (expired, used up, unknown) ends it at once.";

/// Examples of `token redeem`.
pub(super) const TOKEN_REDEEM_AFTER: &str = "\
Examples:
  # On east, with the file issued on west
  kubectl skupper -n east token redeem ~/west.token
  kubectl skupper -n east link status";

/// `token inspect`.
pub(super) const TOKEN_INSPECT_LONG: &str = "\
Show what a token file (AccessToken) or a link file (Links and their Secret) holds before you \
redeem or apply it: where it links to, the CA it trusts with its SHA-256 fingerprint, the link \
cost, the advisory expiry and redemptions written by `token issue`, and warnings.

It runs offline and never prints the code or private keys. Decoding is not verifying: only the \
issuing site knows whether the grant still exists and has redemptions left.";

/// Examples of `token inspect`.
pub(super) const TOKEN_INSPECT_AFTER: &str = "\
Examples:
  kubectl skupper token inspect ~/west.token
  kubectl skupper link generate | kubectl skupper token inspect - -o json";

/// `listener`.
pub(super) const LISTENER_LONG: &str = "\
A listener is a connection endpoint in the local site and binds to target workloads in remote \
sites.";

/// Examples of `listener`.
pub(super) const LISTENER_AFTER: &str = "\
Examples:
  kubectl skupper listener create my-listener 8080
  kubectl skupper listener status my-listener";

/// `listener create`.
pub(super) const LISTENER_CREATE_LONG: &str = "\
Clients at this site use the listener host and port to establish connections to the remote \
service.

Connections are carried to a connector with the same routing key, on this site or a linked one. \
While no such connector is reachable, the port refuses connections.";

/// Examples of `listener create`.
pub(super) const LISTENER_CREATE_AFTER: &str = "\
Examples:
  # On east: clients connect to 127.0.0.1:8080 and reach west's backend
  kubectl skupper -n east listener create backend 8080 --routing-key backend

  kubectl skupper listener create database 5432";

/// `listener create --host` (upstream's words, then the default).
pub(super) const LISTENER_HOST_HELP: &str = "The hostname or IP address of the local listener. Clients at this site use the \
listener host and port to establish connections to the remote service. (default 127.0.0.1)";

/// `listener update`.
pub(super) const LISTENER_UPDATE_LONG: &str = "\
Change listener settings.

Only the settings given change; --tls-credentials \"\" removes the TLS credentials. The listener \
must exist; nothing is written when any input is not valid. A running site applies the change \
at once; on Kubernetes the command waits (--wait, --timeout) for the controller.";

/// Examples of `listener update`.
pub(super) const LISTENER_UPDATE_AFTER: &str = "\
Examples:
  kubectl skupper listener update database --host 0.0.0.0 --port 5433
  kubectl skupper listener update backend --routing-key backend-v2";

/// `listener generate`.
pub(super) const LISTENER_GENERATE_LONG: &str = "\
Generate a listener resource as YAML (or JSON with -o json) without creating it, with the \
defaults `listener create` uses. Apply it with `system apply -f` (or kubectl apply).";

/// Examples of `listener generate`.
pub(super) const LISTENER_GENERATE_AFTER: &str = "\
Examples:
  kubectl skupper listener generate backend 8080 > listener-backend.yaml
  kubectl skupper -n east system apply -f listener-backend.yaml";

/// `listener status`.
pub(super) const LISTENER_STATUS_LONG: &str = "Display status of all listeners or a specific listener.";

/// Examples of `listener status`.
pub(super) const LISTENER_STATUS_AFTER: &str = "\
Examples:
  kubectl skupper listener status
  kubectl skupper listener status backend -o json";

/// `listener delete`.
pub(super) const LISTENER_DELETE_LONG: &str = "Delete a listener <name>.";

/// Examples of `listener delete`.
pub(super) const LISTENER_DELETE_AFTER: &str = "\
Examples:
  kubectl skupper listener delete database";

/// `connector`.
pub(super) const CONNECTOR_LONG: &str = "\
A connector is an endpoint in the local site and binds to listeners in remote sites.";

/// Examples of `connector`.
pub(super) const CONNECTOR_AFTER: &str = "\
Examples:
  kubectl skupper connector create my-connector 8080
  kubectl skupper connector status my-connector";

/// `connector create`.
pub(super) const CONNECTOR_CREATE_LONG: &str = "\
Clients at this site use the connector host and port to establish connections to the remote \
service.

The connector forwards connections that arrive for its routing key, from listeners on this site \
or a linked one, to the server at --host and the port.";

/// Examples of `connector create`.
pub(super) const CONNECTOR_CREATE_AFTER: &str = "\
Examples:
  # On west: expose the server at 127.0.0.1:8080 under the routing key backend
  kubectl skupper -n west connector create backend 8080 --routing-key backend

  kubectl skupper connector create database 5432 --host db.internal";

/// `connector create --host` (upstream's words, then the default).
pub(super) const CONNECTOR_HOST_HELP: &str = "The hostname or IP address of the local connector (default 127.0.0.1)";

/// `connector update`.
pub(super) const CONNECTOR_UPDATE_LONG: &str = "\
Change connector settings.

Only the settings given change; --tls-credentials \"\" removes the TLS credentials. The connector \
must exist; nothing is written when any input is not valid. A running site applies the change \
at once; on Kubernetes the command waits (--wait, --timeout) for the controller.";

/// Examples of `connector update`.
pub(super) const CONNECTOR_UPDATE_AFTER: &str = "\
Examples:
  kubectl skupper connector update database --host db2.internal
  kubectl skupper connector update backend --port 8081";

/// `connector generate`.
pub(super) const CONNECTOR_GENERATE_LONG: &str = "\
Generate a connector resource as YAML (or JSON with -o json) without creating it, with the \
defaults `connector create` uses. Apply it with `system apply -f` (or kubectl apply).";

/// Examples of `connector generate`.
pub(super) const CONNECTOR_GENERATE_AFTER: &str = "\
Examples:
  kubectl skupper connector generate backend 8080 --host 10.0.0.5 > connector-backend.yaml
  kubectl skupper -n west system apply -f connector-backend.yaml";

/// `connector status`.
pub(super) const CONNECTOR_STATUS_LONG: &str = "Display status of all connectors or a specific connector.";

/// Examples of `connector status`.
pub(super) const CONNECTOR_STATUS_AFTER: &str = "\
Examples:
  kubectl skupper connector status
  kubectl skupper connector status backend -o yaml";

/// `connector delete`.
pub(super) const CONNECTOR_DELETE_LONG: &str = "Delete a connector <name>.";

/// Examples of `connector delete`.
pub(super) const CONNECTOR_DELETE_AFTER: &str = "\
Examples:
  kubectl skupper connector delete database";

/// `system`.
pub(super) const SYSTEM_LONG: &str = "\
Run the local site of a namespace and change its resources declaratively. These commands are \
the local platform's (without --platform they always mean it); on Kubernetes the controller \
runs a site and kubectl apply changes its resources.

A running site watches its resources: links, listeners and connectors applied or deleted while \
it runs take effect without a restart.";

/// Examples of `system`.
pub(super) const SYSTEM_AFTER: &str = "\
Examples:
  kubectl skupper -n west system start
  kubectl skupper -n west system status
  kubectl skupper -n west system stop";

/// `system start`.
pub(super) const SYSTEM_START_LONG: &str = "\
Start the site of the namespace: its router, the grant server when link access is enabled, its \
links, listeners and connectors.

It runs in the background and logs to the file shown by `system status`; --foreground runs it \
in this process instead, logging to standard error (for service managers).

When the site runs but cannot bind a link-access or listener port (another program holds it), \
the command says which and exits with 1; the site keeps running and binds the port once it is \
free.";

/// Examples of `system start`.
pub(super) const SYSTEM_START_AFTER: &str = "\
Examples:
  kubectl skupper -n west system start
  kubectl skupper -n west system start --foreground";

/// `system stop`.
pub(super) const SYSTEM_STOP_LONG: &str = "Stop the running site of the namespace. Its resources are kept.";

/// Examples of `system stop`.
pub(super) const SYSTEM_STOP_AFTER: &str = "\
Examples:
  kubectl skupper -n west system stop";

/// `system status`.
pub(super) const SYSTEM_STATUS_LONG: &str = "\
Show whether the site of the namespace runs, and its router, grant server, start time and log.

Exits with 1 when the site (or a router of an HA site) does not run, or runs with something in \
its way (a link-access or listener port it could not bind: it tries again every few seconds).";

/// Examples of `system status`.
pub(super) const SYSTEM_STATUS_AFTER: &str = "\
Examples:
  kubectl skupper -n west system status";

/// `system reload`.
pub(super) const SYSTEM_RELOAD_LONG: &str = "\
Forces the running site to re-read its resources (input/resources) and apply them now.

A running site also picks changes up by itself within a second; reload does it at once, refreshes \
every status file and reports when the site has done it (each router of an HA site). The site's \
CAs and certificates are kept. Every resource file must be readable, else nothing is reloaded. \
A site that does not run reads its resources when it starts.";

/// Examples of `system reload`.
pub(super) const SYSTEM_RELOAD_AFTER: &str = "\
Examples:
  kubectl skupper -n west system reload";

/// `system install`.
pub(super) const SYSTEM_INSTALL_LONG: &str = "\
Upstream prepares the host for system sites: a container engine's API service and the system \
controller (podman, docker), or checks for skrouterd (linux).

None of this is needed here: the router is built into kubectl-skupper and each site runs as its \
own process (system start). The command says so and exits with 0. --reload-type auto is what \
local sites always do; manual is refused.";

/// Examples of `system install`.
pub(super) const SYSTEM_INSTALL_AFTER: &str = "\
Examples:
  kubectl skupper system install";

/// `system uninstall`.
pub(super) const SYSTEM_UNINSTALL_LONG: &str = "\
Upstream removes what system install set up. Nothing is installed here, so the command says so \
and exits with 0; sites are left as they are (site delete --all removes one).";

/// Examples of `system uninstall`.
pub(super) const SYSTEM_UNINSTALL_AFTER: &str = "\
Examples:
  kubectl skupper system uninstall";

/// `system generate-bundle`.
pub(super) const SYSTEM_GENERATE_BUNDLE_LONG: &str = "\
Write a gzip-compressed tarball of the site's input resources (or of --input DIR) that sets up \
the same site on another host.

It holds resources.yaml (every resource, Site first, without status or namespace: apply it with \
`system apply -f resources.yaml` in a namespace without a site, then `system start`), the same \
resources one file each under input/resources/, and a README. Secrets are included: keep the \
bundle private. CAs are not: the new site makes its own. Only --type tarball is available \
(upstream's shell-script installs containers or systemd units).";

/// Examples of `system generate-bundle`.
pub(super) const SYSTEM_GENERATE_BUNDLE_AFTER: &str = "\
Examples:
  kubectl skupper -n west system generate-bundle west-bundle.tar.gz

  # On the other host
  tar xzf west-bundle.tar.gz resources.yaml
  kubectl skupper -n west system apply -f resources.yaml";

/// `system apply`.
pub(super) const SYSTEM_APPLY_LONG: &str = "\
Create or update resources using files or standard input.

Takes Site, RouterAccess, Link, AccessGrant, AccessToken, Listener, Connector (skupper.io/v2alpha1) \
and Secret documents, YAML or JSON, several per file, such as the output of `link generate`. \
Everything is checked before anything is written; an AccessToken is redeemed at once.";

/// Examples of `system apply`.
pub(super) const SYSTEM_APPLY_AFTER: &str = "\
Examples:
  # On south: apply the Link generated on west
  kubectl skupper -n south system apply -f link-to-west.yaml

  cat site.yaml | kubectl skupper system apply -f -";

/// `system delete`.
pub(super) const SYSTEM_DELETE_LONG: &str = "Delete resources using files or standard input.";

/// Examples of `system delete`.
pub(super) const SYSTEM_DELETE_AFTER: &str = "\
Examples:
  kubectl skupper -n south system delete -f link-to-west.yaml";

/// `version`.
pub(super) const VERSION_LONG: &str = "\
Report the version of the kubectl-skupper binary, of its core library (skupper-core), of the \
protocol its router speaks on links (sites link only with the same protocol version), the \
platform commands work on and the operating system and architecture it was built for.";

/// Examples of `version`.
pub(super) const VERSION_AFTER: &str = "\
Examples:
  kubectl skupper version
  kubectl skupper version -o json";

/// `completion`.
pub(super) const COMPLETION_LONG: &str = "\
Print a shell completion script.

bash, zsh and fish complete `kubectl-skupper ...` typed directly. `kubectl skupper <TAB>` is \
completed by kubectl itself (1.26 or later) when an executable named kubectl_complete-skupper is \
on PATH: `completion kubectl` prints that script (a link named kubectl_complete-skupper to the \
kubectl-skupper binary works too). kubectl's own completion must be set up (`kubectl completion \
--help`).";

/// Examples of `completion`.
pub(super) const COMPLETION_AFTER: &str = "\
Examples:
  # bash: this shell, or every new one
  source <(kubectl-skupper completion bash)
  echo 'source <(kubectl-skupper completion bash)' >> ~/.bashrc

  # zsh (a directory in $fpath, before compinit)
  kubectl-skupper completion zsh > \"${fpath[1]}/_kubectl-skupper\"

  # fish
  kubectl-skupper completion fish > ~/.config/fish/completions/kubectl-skupper.fish

  # kubectl skupper <TAB>: next to the plugin (krew installs it in ~/.krew/bin)
  kubectl-skupper completion kubectl > ~/.krew/bin/kubectl_complete-skupper
  chmod +x ~/.krew/bin/kubectl_complete-skupper";

/// `webhook` (feature `webhook`).
#[cfg(feature = "webhook")]
pub(super) const WEBHOOK_LONG: &str = "\
Admission webhook for Links: serve the Link policy (a Wasm module) or print its manifests.

The API server sends every Link create and update to the webhook, which runs the policy module \
(the built-in one or --policy) and admits or denies the Link with the policy's reasons.";

/// Examples of `webhook`.
#[cfg(feature = "webhook")]
pub(super) const WEBHOOK_AFTER: &str = "\
Examples:
  # In the cluster, once the Secret skupper-link-policy-tls holds the serving certificate
  kubectl skupper -n skupper-system webhook manifest --ca-bundle ca.crt | kubectl apply -f -

  # Outside the cluster: serve, and register that URL
  kubectl skupper webhook serve --tls-cert tls.crt --tls-key tls.key --listen 0.0.0.0:8443
  kubectl skupper webhook manifest --url https://hook.example.com:8443/validate --ca-bundle ca.crt";

/// Examples of `webhook serve`.
#[cfg(feature = "webhook")]
pub(super) const WEBHOOK_SERVE_AFTER: &str = "\
Examples:
  kubectl skupper webhook serve --tls-cert tls.crt --tls-key tls.key

  # With policy settings (allowedHosts, minCost, maxCost, ...) and a port picked by the system
  kubectl skupper webhook serve --tls-cert tls.crt --tls-key tls.key --settings policy.yaml \\
      --listen 127.0.0.1:0";

/// Examples of `webhook manifest`.
#[cfg(feature = "webhook")]
pub(super) const WEBHOOK_MANIFEST_AFTER: &str = "\
Examples:
  kubectl skupper -n skupper-system webhook manifest --ca-bundle ca.crt --settings policy.yaml \\
      | kubectl apply -f -
  kubectl skupper webhook manifest --url https://hook.example.com:8443/validate --ca-bundle ca.crt";
