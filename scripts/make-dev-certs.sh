#!/bin/sh
# make-dev-certs.sh - a development CA, a broker certificate, optional client
# certificates and a Mosquitto password file, for broker-config/secure.conf.
#
#   sh scripts/make-dev-certs.sh DIR [node ids...]
#
# Creates in DIR (made if missing, mode 0700):
#   ca.crt ca.key              the development CA (10 years; never for production)
#   server.crt server.key      CN=localhost, subjectAltName DNS:localhost, IP:127.0.0.1
#                              (override with DX_CERT_HOST=name: CN and DNS SAN, no IP)
#   client-<user>.crt/.key     a client certificate per user (optional in secure.conf)
#   passwd                     mosquitto_passwd file: users "ops" and each node id
#   <user>.password            that user's password, mode 0600, for --password-file
# Users default to: ops 1 2 3.  Passwords come from `openssl rand`.
# Nothing here is committed: DIR belongs in .gitignore (/dev-certs/ is).
set -eu

if [ $# -lt 1 ]; then
    echo "usage: sh scripts/make-dev-certs.sh DIR [node ids...]" >&2
    exit 2
fi
dir=$1
shift
if [ $# -eq 0 ]; then
    set -- 1 2 3
fi
for id in "$@"; do
    case $id in
    ''|0*|*[!0-9]*) echo "make-dev-certs: not a node id: '$id'" >&2; exit 2 ;;
    esac
done
for tool in openssl mosquitto_passwd; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "make-dev-certs: $tool is missing (apt-get install openssl mosquitto)" >&2
        exit 1
    }
done

umask 077
mkdir -p "$dir"
chmod 700 "$dir"
host=${DX_CERT_HOST:-localhost}
if [ "$host" = localhost ]; then
    san="DNS:localhost,IP:127.0.0.1"
else
    san="DNS:$host"
fi

# The CA.
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -subj "/CN=DistribuX development CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null

ext="$dir/.ext.cnf"
sign() { # sign NAME CN EXTENSIONS
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$2" \
        -keyout "$dir/$1.key" -out "$dir/$1.csr" 2>/dev/null
    printf '%s\n' "$3" >"$ext"
    openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 825 -sha256 -extfile "$ext" \
        -out "$dir/$1.crt" 2>/dev/null
    rm -f "$dir/$1.csr" "$ext"
}

# The broker.
sign server "$host" "subjectAltName=$san
extendedKeyUsage=serverAuth"

# Users: passwords, password file, client certificates.
rm -f "$dir/passwd"
: >"$dir/passwd"
for user in ops "$@"; do
    openssl rand -hex 16 >"$dir/$user.password"
    chmod 600 "$dir/$user.password"
    mosquitto_passwd -b "$dir/passwd" "$user" "$(cat "$dir/$user.password")"
    sign "client-$user" "$user" "extendedKeyUsage=clientAuth"
done
rm -f "$dir/ca.srl"
# The broker reads these after dropping to its own user when started as root.
chmod 644 "$dir/ca.crt" "$dir/server.crt" "$dir/passwd"
chmod 640 "$dir/server.key"
chmod 755 "$dir"
echo "make-dev-certs: wrote $dir (users: ops $*)"
