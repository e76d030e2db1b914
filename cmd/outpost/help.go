package main

// What --help prints: the commands, and for each its own page. Flags are
// appended by printHelp from the flag sets, so they cannot drift.

const usage = `outpost: an identity-aware reverse proxy, a drop-in for authentik's proxy outpost.

usage: outpost [command] [flags]
       outpost --help | --version

commands:
  serve          run the outpost (the default command; also "proxy", as authentik 2026.8+
                 starts its outpost: /authentik proxy)
  demo           run a stand-in core, the outpost and a whoami app on 127.0.0.1
                 (demo --standalone: the outpost from YAML, the core as a plain OIDC issuer)
  devcore        run the stand-in core from a YAML file
  whoami         run a small upstream that shows the request it received
  healthcheck    exit 0 when the outpost's ping answers (for container healthchecks)
  version        print version, commit and Go version (also --version, -v)
  hash-password  read a password on stdin, print its bcrypt hash (for devcore YAML)
  help [command] this text, or a command's (same as outpost COMMAND --help)

serve takes its providers from one of two places, never both:
  core mode        AUTHENTIK_HOST and AUTHENTIK_TOKEN: an authentik core, as authentik's outpost
  standalone mode  --config FILE (or OUTPOST_CONFIG): a YAML file (docs/standalone.md)

environment (docs/configuration.md lists every variable):
  AUTHENTIK_HOST             the core's base URL, e.g. https://authentik.example.com
  AUTHENTIK_TOKEN            the outpost's API token
  AUTHENTIK_INSECURE         true: do not verify the core's TLS certificate
  OUTPOST_CONFIG             standalone mode: the providers YAML (same as serve --config)
  AUTHENTIK_LISTEN__HTTP     HTTP listener (default 0.0.0.0:9000)
  AUTHENTIK_LISTEN__HTTPS    HTTPS listener (default 0.0.0.0:9443)
  AUTHENTIK_LISTEN__METRICS  metrics, ping and readiness (default 0.0.0.0:9300)
  AUTHENTIK_LOG_LEVEL        trace, debug, info (default), warning or error
  AUTHENTIK_LOG__FORMAT      json (default; text on a terminal), text, or authentik
                             (authentik's keys: event, level, logger, timestamp)
  AUTHENTIK_REDIS__HOST      keep sessions in Redis, shared by replicas (docs/sessions.md)

exit status: 0 done, 1 failed, 2 wrong usage (a bad flag or command, no mode or both modes).
`

const serveHelp = `usage: outpost serve [--config FILE]

Run the outpost. Without --config it follows the authentik core at AUTHENTIK_HOST with
AUTHENTIK_TOKEN (core mode); with --config FILE, or OUTPOST_CONFIG=FILE, its providers come
from that YAML file and no core is used (standalone mode, docs/standalone.md). Asking for both
is refused. outpost --help lists the environment variables.
`

const demoHelp = `usage: outpost demo [flags]

Run a stand-in core, the outpost and a whoami upstream in one process on 127.0.0.1, and print
where to sign in. Nothing to install, nothing to configure. With --standalone the outpost reads
a generated providers.yaml and the stand-in core acts as a plain OpenID Connect issuer
(docs/standalone.md).
`

const devcoreHelp = `usage: outpost devcore --config FILE [--listen ADDR] [--core-version VERSION]

Run the stand-in core: the outpost API of authentik and an OpenID Connect provider, from a
YAML file that is reloaded when it changes (docs/devcore.md). --core-version overrides the
file's core_version: the authentik release whose API shapes it serves.
`

const whoamiHelp = `usage: outpost whoami [--listen ADDR]

Run a small upstream that answers every request with the request it received: the headers the
outpost passed on, identity headers marked.
`

const healthcheckHelp = `usage: outpost healthcheck [URL | proxy]

Exit 0 when the outpost's ping, on AUTHENTIK_LISTEN__METRICS (default 0.0.0.0:9300), answers
below 400; exit 1 otherwise. With a URL, HEAD that URL instead (for containers without a
shell, such as the devcore's and whoami's). "healthcheck proxy" is the outpost's ping too: the
form authentik 2026.8+ gives its outpost containers (/authentik healthcheck proxy).
`

const versionHelp = `usage: outpost version

Print the version, the commit, the Go version and platform, and what the Go toolchain recorded
about the build (module version, VCS revision and time).
`

const hashPasswordHelp = `usage: echo PASSWORD | outpost hash-password

Read a password from the first line of standard input and print its bcrypt hash, for the
password_hash and app_passwords fields of a devcore YAML file.
`
