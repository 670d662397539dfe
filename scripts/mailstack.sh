#!/usr/bin/env bash
# Local mail stack for the quick start and the integration tests: Dovecot (IMAP, LMTP) and
# Postfix (SMTP) on 127.0.0.1, everything (config, queue, mail, logs) inside one directory.
#
# Usage: scripts/mailstack.sh COMMAND DIR [ADDRESS...]
#   start DIR            start Dovecot + Postfix in DIR and write DIR/env
#   stop DIR             stop both (idempotent; also kills leftovers whose cwd is in DIR)
#   env DIR              print DIR/env (shell KEY=value lines)
#   add-user DIR ADDR..  add mail users to a running stack (password: MAILSTACK_PASSWORD)
#   start-dovecot|stop-dovecot|restart-dovecot DIR
#   start-postfix|stop-postfix|flush DIR
#   queue DIR            print Postfix's queue, one JSON object per message (empty: nothing queued)
#
# Environment (all optional):
#   MAILSTACK_USERS="a@x.test b@y.test"  users besides helpdesk@example.test and fa@example.test
#   MAILSTACK_PASSWORD=secret            password of every user
#   IMAP_PORT, IMAPS_PORT, SMTP_PORT, SMTPS_PORT, LMTP_PORT   fixed ports (default: free ones)
#   MAILSTACK_TLS=1                      self-signed CA + server cert; STARTTLS on IMAP and SMTP,
#                                        implicit TLS on IMAPS_PORT and SMTPS_PORT; also a second
#                                        CA that signed nothing (MAILSTACK_TLS_OTHER_CA)
#   MAILSTACK_TLS_SERVER=ok              the server cert: ok (localhost, 127.0.0.1), wrong-name
#                                        (for mail.other.test only) or expired (January 2020)
#   MAILSTACK_OAUTH=1                    XOAUTH2/OAUTHBEARER too: Dovecot checks JWTs (HS256, key
#                                        MAILSTACK_OAUTH_KEY, issuer MAILSTACK_OAUTH_ISSUER)
#                                        itself, no token server; Postfix offers SMTP AUTH through
#                                        Dovecot and takes mail from helpdesk@example.test (the
#                                        daemon's address) only after a login as that user
#   MAILSTACK_IMAP_BASIC=1               IMAP without IDLE and MOVE (an older or smaller server)
#   MAILSTACK_POSTFIX=0                  Dovecot only (Postfix needs root)
#   MAILSTACK_WATCH_PID=PID              stop the stack when process PID is gone (test harness)
#   MAILSTACK_WATCH_RM=1                 ... and then remove DIR
#
# Only domains of listed users are accepted; mail to unknown users there and to any other domain
# is refused at RCPT time, so nothing ever leaves the machine or waits in the queue for days.
set -euo pipefail

die() { echo "mailstack: $*" >&2; exit 1; }
usage() { sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 2 ] || usage
CMD=$1
T=$(realpath -m "$2")
shift 2
case "$T" in *[[:space:]\'\"\\\$]*) die "DIR must not contain spaces, quotes or \$: $T" ;; esac

DEFAULT_USERS="helpdesk@example.test fa@example.test"
PASSWORD=${MAILSTACK_PASSWORD:-secret}
HOST=127.0.0.1
DC=$T/dovecot
PF=$T/postfix
IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1

need() {
  command -v /usr/sbin/dovecot >/dev/null && [ -x /usr/lib/dovecot/imap ] && [ -x /usr/lib/dovecot/lmtp ] \
    || die "Dovecot (imapd, lmtpd) is missing; install with: apt-get install -y dovecot-imapd dovecot-lmtpd postfix"
  if [ "$(postfix_wanted)" = 1 ]; then
    [ -x /usr/sbin/postfix ] \
      || die "Postfix is missing; install with: apt-get install -y dovecot-imapd dovecot-lmtpd postfix"
    [ "$IS_ROOT" = 1 ] || die "Postfix must be started as root (or set MAILSTACK_POSTFIX=0 for Dovecot only)"
  fi
}
postfix_wanted() { [ "${MAILSTACK_POSTFIX:-1}" = 0 ] && echo 0 || echo 1; }

# A port that nothing listens on (random, below the usual ephemeral range).
free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$((15000 + RANDOM % 17000))
    case " $USED_PORTS " in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/$HOST/$p") 2>/dev/null; then USED_PORTS="$USED_PORTS $p"; echo "$p"; return; fi
  done
  die "no free port found"
}

# Wait until something accepts connections on PORT (or give up after ~10 s).
wait_port() {
  local i
  for i in $(seq 1 100); do
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

pid_alive() { [ -s "$1" ] && kill -0 "$(head -1 "$1" | tr -d ' ')" 2>/dev/null; }

# SIGTERM the master in PIDFILE and wait until it is gone.
stop_pidfile() {
  local p i
  [ -s "$1" ] || return 0
  p=$(head -1 "$1" | tr -d ' ')
  [ -n "$p" ] && kill "$p" 2>/dev/null || { rm -f "$1"; return 0; }
  for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || { rm -f "$1"; return 0; }; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  rm -f "$1"
}

# Server processes whose working directory lies under $1: children a master left behind.
procs_under() {
  local d
  for d in $(find /proc/[0-9]*/cwd -maxdepth 0 \( -lname "$1" -o -lname "$1/*" \) 2>/dev/null); do
    d=${d%/cwd}
    # only server binaries: never a shell that happens to sit in DIR
    case "$(readlink "$d/exe" 2>/dev/null)" in
      /usr/sbin/dovecot | /usr/lib/dovecot/* | /usr/lib/postfix/* | /usr/sbin/post*) echo "${d#/proc/}" ;;
    esac
  done
}
reap_under() {
  local i left
  for i in $(seq 1 50); do
    left=$(procs_under "$1"); [ -z "$left" ] && return 0
    sleep 0.1
  done
  echo "mailstack: killing leftover processes: $left" >&2
  # shellcheck disable=SC2086
  kill -KILL $left 2>/dev/null || true
}

# The default users, then the given ones (split on spaces and commas), without duplicates.
all_users() {
  printf '%s\n' $DEFAULT_USERS "$@" | tr ', ' '\n\n' | awk 'NF && !seen[tolower($0)]++'
}
check_addr() {
  case "$1" in *@*.*) ;; *) die "not a mail address: $1" ;; esac
  case "$1" in *[!A-Za-z0-9@._+-]*) die "unsupported characters in address: $1" ;; esac
}

# ---------------------------------------------------------------- users (both servers)
write_users() { # writes Dovecot's passwd-file and Postfix's lookup tables from a user list
  local u
  : >"$DC/users.new"
  for u in "$@"; do check_addr "$u"; echo "$u:{PLAIN}$PASSWORD::::::" >>"$DC/users.new"; done
  mv "$DC/users.new" "$DC/users"   # Dovecot rereads the file when it changes
  printf '%s\n' "$@" >"$T/users.list"
  if [ -d "$PF" ]; then
    printf '%s OK\n' "$@" >"$PF/vmailbox"
    printf '%s\n' "$@" | sed 's/.*@//' | sort -u | sed 's/$/ OK/' >"$PF/vdomains"
    # hash tables: smtpd and trivial-rewrite restart themselves before the next
    # connection when a table changes, so new users work at once without a reload
    postmap -c "$PF" "hash:$PF/vmailbox"
    postmap -c "$PF" "hash:$PF/vdomains"
  fi
}

# Does the SMTP (or, with VERB=LHLO, LMTP) server on PORT accept ADDR at RCPT time yet?
# Table changes reach Postfix's smtpd and trivial-rewrite, and Dovecot's passwd-file, a little
# later (Dovecot looks at the file at most once a second).
rcpt_accepted() { # PORT VERB ADDR
  local line code="" rcpt
  exec 3<>"/dev/tcp/$HOST/$1" || return 1
  read_reply() { while IFS= read -r -t 5 line <&3; do [ "${line:3:1}" = "-" ] || { code=${line:0:3}; return 0; }; done; code=""; }
  read_reply
  printf '%s probe.test\r\n' "$2" >&3; read_reply
  printf 'MAIL FROM:<>\r\n' >&3; read_reply
  printf 'RCPT TO:<%s>\r\n' "$3" >&3; read_reply
  rcpt=$code
  printf 'QUIT\r\n' >&3; read_reply
  exec 3>&-
  [ "$rcpt" = 250 ]
}
wait_accepted() { # PORT VERB ADDR
  local i
  for i in $(seq 1 300); do rcpt_accepted "$@" && return 0; sleep 0.1; done
  die "port $1 still refuses $3 after adding it"
}

# ---------------------------------------------------------------- TLS
make_tls() {
  local d=$T/tls
  mkdir -p "$d"
  command -v openssl >/dev/null || die "openssl is missing; install with: apt-get install -y openssl"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=mailstack test CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  # a CA no server certificate chains to: what a client trusting the wrong CA sees
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=mailstack other CA" \
    -keyout "$d/other-ca.key" -out "$d/other-ca.pem" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  local kind=${MAILSTACK_TLS_SERVER:-ok} names="DNS:localhost,IP:127.0.0.1" cn=localhost
  case "$kind" in
    ok | expired) ;;
    wrong-name) names="DNS:mail.other.test"; cn=mail.other.test ;;
    *) die "MAILSTACK_TLS_SERVER must be ok, wrong-name or expired, not: $kind" ;;
  esac
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=$names" >"$d/server.ext"
  if [ "$kind" = expired ]; then
    # only `openssl ca` sets dates in the past
    : >"$d/index.txt"; echo 01 >"$d/serial"
    printf '%s\n' "[ca]" "default_ca = test_ca" "[test_ca]" "database = $d/index.txt" \
      "new_certs_dir = $d" "certificate = $d/ca.pem" "private_key = $d/ca.key" \
      "serial = $d/serial" "default_md = sha256" "policy = any" "[any]" "commonName = supplied" \
      >"$d/ca.cnf"
    openssl ca -batch -notext -config "$d/ca.cnf" -in "$d/server.csr" -out "$d/server.pem" \
      -startdate 20200101000000Z -enddate 20200201000000Z -extfile "$d/server.ext" 2>/dev/null \
      || die "openssl could not sign the expired test certificate"
  else
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
      -days 30 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
  fi
  chmod 0600 "$d"/*.key
}

# ---------------------------------------------------------------- OAuth (MAILSTACK_OAUTH=1)
# Dovecot's oauth2 passdb validates JWTs locally (Dovecot 2.3.16+): HMAC keys live in a dict,
# here fs:posix, at <prefix>/<azp or "default">/<alg>/<kid or "default">, base64-encoded.
# Tests sign their own tokens with MAILSTACK_OAUTH_KEY (its ASCII bytes are the HMAC key).
OAUTH_ISSUER=https://issuer.mailstack.test
make_oauth() {
  local d=$DC/oauth-keys/default/HS256
  mkdir -p "$d"
  OAUTH_KEY=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s' "$OAUTH_KEY" | base64 -w0 >"$d/default"
  cat >"$DC/oauth2.conf.ext" <<EOT
introspection_mode = local
local_validation_key_dict = fs:posix:prefix=$DC/oauth-keys/
issuers = $OAUTH_ISSUER
username_attribute = sub
EOT
  OAUTH_TOKEN=$(jwt_hs256 "$OAUTH_KEY" "helpdesk@example.test" $(($(date +%s) + 86400)))
}
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
# A JWT for SUB signed with KEY (HS256), valid until EXP (Unix time).
jwt_hs256() { # KEY SUB EXP
  local h p s
  h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
  p=$(printf '{"iss":"%s","sub":"%s","iat":%s,"exp":%s}' "$OAUTH_ISSUER" "$2" "$(date +%s)" "$3" | b64url)
  s=$(printf '%s' "$h.$p" | openssl dgst -sha256 -mac HMAC -macopt "key:$1" -binary | b64url)
  echo "$h.$p.$s"
}

# ---------------------------------------------------------------- Dovecot
write_dovecot_conf() {
  local login_u int_u int_g mail_u mail_g ssl_conf imaps caps=""
  if [ "${MAILSTACK_IMAP_BASIC:-0}" = 1 ]; then
    # the capabilities announced after login, without IDLE and MOVE (the rest as Dovecot has it)
    caps="imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 ESEARCH SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY LITERAL+ SPECIAL-USE"
  fi
  if [ "$IS_ROOT" = 1 ]; then
    # Dovecot refuses to run login/internal processes or mail access as root
    login_u=dovenull; int_u=dovecot; int_g=dovecot; mail_u=nobody; mail_g=nogroup
  else
    login_u=$(id -un); int_u=$login_u; int_g=$(id -gn); mail_u=$login_u; mail_g=$int_g
  fi
  ssl_conf="ssl = no"; imaps=0
  if [ -n "${TLS_CERT:-}" ]; then
    imaps=$IMAPS_PORT
    ssl_conf="ssl = yes
ssl_cert = <$TLS_CERT
ssl_key = <$TLS_KEY"
    if [ -r /usr/share/dovecot/dh.pem ]; then ssl_conf="$ssl_conf
ssl_dh = </usr/share/dovecot/dh.pem"; fi
  fi
  mkdir -p "$DC/run" "$DC/state" "$T/mail"
  if [ "$IS_ROOT" = 1 ]; then chown "$mail_u:$mail_g" "$T/mail"; fi
  local mechs="plain login" pw_mechs="" oauth_conf="" auth_socket=""
  if [ -n "${OAUTH_KEY:-}" ]; then
    mechs="plain login xoauth2 oauthbearer"
    pw_mechs="mechanisms = plain login"
    oauth_conf="passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $DC/oauth2.conf.ext
}"
    if [ "$(postfix_wanted)" = 1 ]; then
      # Postfix's smtpd asks Dovecot (SMTP AUTH through Dovecot SASL)
      auth_socket="service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}"
    fi
  fi
  cat >"$DC/dovecot.conf" <<EOT
base_dir = $DC/run
state_dir = $DC/state
log_path = $T/dovecot.log
info_log_path = $T/dovecot.log
protocols = imap lmtp
listen = $HOST
$ssl_conf
disable_plaintext_auth = no
auth_mechanisms = $mechs
$caps
# IDLE notices new mail at once via inotify; this is only the fallback check
mailbox_idle_check_interval = 1 secs
default_login_user = $login_u
default_internal_user = $int_u
default_internal_group = $int_g
first_valid_uid = 1
mail_location = maildir:$T/mail/%d/%n/Maildir
mail_home = $T/mail/%d/%n
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DC/users
  $pw_mechs
}
$oauth_conf
userdb {
  driver = passwd-file
  args = username_format=%u $DC/users
  default_fields = uid=$mail_u gid=$mail_g home=$T/mail/%d/%n
}
protocol lmtp {
  postmaster_address = postmaster@example.test
}
lmtp_save_to_detail_mailbox = no
service imap-login {
  chroot =
  inet_listener imap {
    address = $HOST
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = $HOST
    port = $imaps
  }
}
service lmtp {
  inet_listener lmtp {
    address = $HOST
    port = $LMTP_PORT
  }
}
service anvil {
  chroot =
}
$auth_socket
EOT
}

start_dovecot() {
  pid_alive "$DC/run/master.pid" && return 0
  if ! /usr/sbin/dovecot -c "$DC/dovecot.conf" </dev/null >>"$T/dovecot.stderr" 2>&1 \
    || ! wait_port "$IMAP_PORT" || ! wait_port "$LMTP_PORT"; then
    tail -n 20 "$T/dovecot.stderr" "$T/dovecot.log" >&2 2>/dev/null || true
    die "Dovecot did not start (see $T/dovecot.log)"
  fi
}
stop_dovecot() { stop_pidfile "$DC/run/master.pid"; reap_under "$DC"; }

# ---------------------------------------------------------------- Postfix
write_postfix_conf() {
  mkdir -p "$PF/spool" "$PF/data"
  chown postfix "$PF/data"
  local tls=""
  if [ -n "${TLS_CERT:-}" ]; then
    tls="smtpd_tls_security_level = may
smtpd_tls_cert_file = $TLS_CERT
smtpd_tls_key_file = $TLS_KEY
smtpd_tls_loglevel = 1"
  fi
  local sasl=""
  if [ -n "${OAUTH_KEY:-}" ]; then
    # AUTH is offered (and logged with its mechanism). Mail from the daemon's address needs a
    # login as that user, so a receipt that arrives proves the daemon logged in; other senders
    # on 127.0.0.1 (the tests themselves) still send without one.
    sasl="smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DC/run/auth-postfix
smtpd_sender_login_maps = inline:{ helpdesk@example.test=helpdesk@example.test }
smtpd_sender_restrictions = reject_sender_login_mismatch"
  fi
  cat >"$PF/main.cf" <<EOT
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
maillog_file_prefixes = $T
maillog_file = $T/postfix.log
myhostname = mx.example.test
mydomain = example.test
myorigin = example.test
mydestination =
relay_domains =
inet_interfaces = $HOST
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
# only our virtual users: unknown users and foreign domains are refused at RCPT time
smtpd_relay_restrictions = reject_unauth_destination
smtpd_reject_unlisted_recipient = yes
virtual_mailbox_domains = hash:$PF/vdomains
virtual_mailbox_maps = hash:$PF/vmailbox
virtual_transport = lmtp:inet:$HOST:$LMTP_PORT
# belt and braces: nothing is ever sent off this machine
default_transport = error:the test mail stack delivers only to its own users
relay_transport = error:the test mail stack delivers only to its own users
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
message_size_limit = 52428800
mailbox_size_limit = 0
virtual_mailbox_limit = 0
$tls
$sasl
# speed up test runs
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
lmtp_connect_timeout = 5s
EOT
  local smtps=""
  if [ -n "${TLS_CERT:-}" ]; then
    smtps="$HOST:$SMTPS_PORT inet n - n - - smtpd -o smtpd_tls_wrappermode=yes"
  fi
  cat >"$PF/master.cf" <<EOT
$HOST:$SMTP_PORT inet n - n - - smtpd
$smtps
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
proxywrite unix - - n -    1 proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
lmtp      unix  - - n -    - lmtp
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
EOT
}

start_postfix() {
  [ "$(postfix_wanted)" = 1 ] || return 0
  pid_alive "$PF/spool/pid/master.pid" && return 0
  if ! postfix -c "$PF" start </dev/null >>"$T/postfix.stderr" 2>&1 \
    || ! wait_port "$SMTP_PORT"; then
    tail -n 20 "$T/postfix.stderr" "$T/postfix.log" >&2 2>/dev/null || true
    die "Postfix did not start (see $T/postfix.log)"
  fi
}
stop_postfix() { stop_pidfile "$PF/spool/pid/master.pid"; reap_under "$PF"; }

# ---------------------------------------------------------------- env file
load_env() {
  [ -r "$T/env" ] || die "no mail stack in $T (missing $T/env)"
  # shellcheck disable=SC1091
  . "$T/env"
  TLS_CERT=${MAILSTACK_TLS_CERT:-}; TLS_KEY=${MAILSTACK_TLS_KEY:-}
}

write_env() {
  {
    echo "MAILSTACK_DIR=$T"
    echo "MAIL_HOST=$HOST"
    echo "IMAP_PORT=$IMAP_PORT"
    echo "SMTP_PORT=$SMTP_PORT"
    echo "LMTP_PORT=$LMTP_PORT"
    echo "MAILSTACK_PASSWORD=$PASSWORD"
    echo "MAILSTACK_USERS=$(paste -sd, "$T/users.list")"
    echo "DOVECOT_CONF=$DC/dovecot.conf"
    echo "DOVECOT_PID_FILE=$DC/run/master.pid"
    echo "DOVECOT_LOG=$T/dovecot.log"
    if [ "$(postfix_wanted)" = 1 ]; then
      echo "POSTFIX_CONFIG_DIR=$PF"
      echo "POSTFIX_PID_FILE=$PF/spool/pid/master.pid"
      echo "POSTFIX_LOG=$T/postfix.log"
    fi
    if [ -n "${TLS_CERT:-}" ]; then
      echo "IMAPS_PORT=$IMAPS_PORT"
      echo "SMTPS_PORT=$SMTPS_PORT"
      echo "MAILSTACK_TLS_CA=$T/tls/ca.pem"
      echo "MAILSTACK_TLS_OTHER_CA=$T/tls/other-ca.pem"
      echo "MAILSTACK_TLS_CERT=$TLS_CERT"
      echo "MAILSTACK_TLS_KEY=$TLS_KEY"
    fi
    if [ -n "${OAUTH_KEY:-}" ]; then
      echo "MAILSTACK_OAUTH_KEY=$OAUTH_KEY"
      echo "MAILSTACK_OAUTH_ISSUER=$OAUTH_ISSUER"
      echo "MAILSTACK_OAUTH_TOKEN=$OAUTH_TOKEN"
    fi
    if [ -n "${MAILSTACK_WATCH_PID:-}" ]; then echo "WATCHER_PID_FILE=$T/watcher.pid"; fi
  } >"$T/env.new"
  mv "$T/env.new" "$T/env"
}

start_watcher() {
  local me
  me=$(realpath "$0")
  # detached from our stdio, so whoever runs this script is not kept waiting on a pipe
  (
    cd /
    while kill -0 "$MAILSTACK_WATCH_PID" 2>/dev/null; do sleep 1; done
    rm -f "$T/watcher.pid"
    "$me" stop "$T"
    if [ "${MAILSTACK_WATCH_RM:-0}" = 1 ]; then rm -rf "$T"; fi
  ) </dev/null >/dev/null 2>&1 &
  echo $! >"$T/watcher.pid"
}

# ---------------------------------------------------------------- commands
case "$CMD" in
  start)
    need
    [ -e "$T/env" ] && pid_alive "$DC/run/master.pid" && die "a mail stack already runs in $T"
    mkdir -p "$T" "$DC"
    # the servers' unprivileged users must reach their files below DIR
    chmod 0755 "$T"
    USED_PORTS=""
    IMAP_PORT=${IMAP_PORT:-$(free_port)}; USED_PORTS="$USED_PORTS $IMAP_PORT"
    SMTP_PORT=${SMTP_PORT:-$(free_port)}; USED_PORTS="$USED_PORTS $SMTP_PORT"
    LMTP_PORT=${LMTP_PORT:-$(free_port)}; USED_PORTS="$USED_PORTS $LMTP_PORT"
    TLS_CERT=""; TLS_KEY=""
    if [ "${MAILSTACK_TLS:-0}" = 1 ]; then
      IMAPS_PORT=${IMAPS_PORT:-$(free_port)}; USED_PORTS="$USED_PORTS $IMAPS_PORT"
      SMTPS_PORT=${SMTPS_PORT:-$(free_port)}; USED_PORTS="$USED_PORTS $SMTPS_PORT"
      make_tls
      TLS_CERT=$T/tls/server.pem; TLS_KEY=$T/tls/server.key
    fi
    OAUTH_KEY=""
    if [ "${MAILSTACK_OAUTH:-0}" = 1 ]; then make_oauth; fi
    mapfile -t USERS < <(all_users "${MAILSTACK_USERS:-}")
    write_dovecot_conf
    if [ "$(postfix_wanted)" = 1 ]; then write_postfix_conf; fi
    write_users "${USERS[@]}"
    write_env
    start_dovecot
    (start_postfix) || { stop_dovecot; exit 1; }
    if [ -n "${MAILSTACK_WATCH_PID:-}" ]; then start_watcher; fi
    cat "$T/env"
    ;;
  stop)
    [ -d "$T" ] || exit 0
    if [ -s "$T/watcher.pid" ]; then kill "$(cat "$T/watcher.pid")" 2>/dev/null || true; rm -f "$T/watcher.pid"; fi
    # both masters take a second or two to wind down: stop them side by side
    stop_postfix & PF_STOP=$!
    stop_dovecot
    wait "$PF_STOP"
    ;;
  env) load_env; cat "$T/env" ;;
  add-user)
    load_env
    [ $# -ge 1 ] || die "add-user needs at least one address"
    mapfile -t USERS < <(all_users $(cat "$T/users.list") "$@")
    OLD_DOMAINS=$(cat "$PF/vdomains" 2>/dev/null || true)
    write_users "${USERS[@]}"
    if pid_alive "$DC/run/master.pid"; then
      for u in "$@"; do wait_accepted "$LMTP_PORT" LHLO "$u"; done
    fi
    if [ "$(postfix_wanted)" = 1 ] && pid_alive "$PF/spool/pid/master.pid"; then
      # trivial-rewrite keeps an old domain table for a while; a reload renews it
      if [ "$OLD_DOMAINS" != "$(cat "$PF/vdomains")" ]; then postfix -c "$PF" reload 2>/dev/null; fi
      for u in "$@"; do wait_accepted "$SMTP_PORT" EHLO "$u"; done
    fi
    sed -i "s|^MAILSTACK_USERS=.*|MAILSTACK_USERS=$(paste -sd, "$T/users.list")|" "$T/env"
    ;;
  start-dovecot) load_env; start_dovecot ;;
  stop-dovecot) load_env; stop_dovecot ;;
  restart-dovecot) load_env; stop_dovecot; start_dovecot ;;
  start-postfix) load_env; need; start_postfix ;;
  stop-postfix) load_env; stop_postfix ;;
  flush) load_env; postqueue -c "$PF" -f ;;
  queue) load_env; postqueue -c "$PF" -j ;;
  *) usage ;;
esac
