#!/usr/bin/env bash
# k8s-local.sh: a single-node Kubernetes cluster on this host, for trying cluster:k8s.
#
#   k8s-local.sh build                 build kube-* binaries from source (cached)
#   k8s-local.sh up                    build if needed, start everything, wait for Ready
#   k8s-local.sh down [--keep-images]  stop everything and remove its state
#   k8s-local.sh status                pids and `kubectl get nodes`; exit 0 iff Ready
#   k8s-local.sh load-image REF|FILE…  import images (Docker refs or tarballs) for pods
#   k8s-local.sh env                   print `export KUBECONFIG=…`
#
# Needs root and Go. No image registry is assumed: the kube-* binaries are built from
# k8s.io/kubernetes with the Go module proxy, etcd/containerd/runc/CNI plugins come from
# Debian packages, and the pod sandbox image is a tiny Go program (k8s-pause/main.go).
# Everything runs as plain processes (setsid, pid files in /run/choreograph-k8s), with a
# PRIVATE containerd (own socket, root and state) so dockerd's containerd is untouched.
# Knobs: CHOREO_K8S_HOME (state, logs, kubeconfig; default /var/lib/choreograph-k8s),
# CHOREO_K8S_CACHE (binaries, Go module dir, pause image), CHOREO_K8S_VERSION.
#
# Non-obvious settings:
# - containerd restrict_oom_score_adj: root may lack CAP_SYS_RESOURCE; without it runc
#   fails ("can't get final child's PID from pipe: EOF" in the kubelet).
# - kubelet failCgroupV1=false (hosts with cgroup v1), imageGCHighThresholdPercent=100
#   (imported images cannot be pulled again), low eviction thresholds (a full-ish disk
#   must not evict test pods), allowedUnsafeSysctls net.* (plans set net.core.somaxconn).
# - iptables FORWARD ACCEPT rules for the bridge: dockerd sets the FORWARD policy to DROP.
#   INPUT ACCEPT from the bridge: pods reach the sync service on the host's IP.
#   All are tagged with the comment "choreograph-k8s", which `down` removes.
# - bridge-nf-call-iptables=1: a pod reaching a Service backed by a pod on the same
#   bridge needs the reply to pass conntrack, or it arrives from the wrong address.
# - apiserver --kubelet-preferred-address-types InternalIP: the node name does not resolve
#   (logs/exec failed with "lookup choreo-node … no such host").
# - No CoreDNS (nothing to pull it from): pods resolve with the host's resolv.conf.
set -euo pipefail

VERSION=${CHOREO_K8S_VERSION:-v1.37.2}
HOME_DIR=${CHOREO_K8S_HOME:-/var/lib/choreograph-k8s}
CACHE=${CHOREO_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/choreograph-k8s}
RUN=/run/choreograph-k8s
SOCK=$RUN/containerd.sock
BIN=$CACHE/bin
PKI=$HOME_DIR/pki
LOGS=$HOME_DIR/logs
KUBECONFIG_PATH=$HOME_DIR/admin.kubeconfig
NODE=choreo-node
BRIDGE=k8s-choreo0  # not "ch…": that prefix is what choreo's own run links are named
POD_CIDR=10.244.0.0/24
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
ETCD_URL=http://127.0.0.1:23790
TAG=choreograph-k8s
PAUSE=choreograph.local/pause:3
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)
K8S_BINARIES=(kube-apiserver kubelet kube-controller-manager kube-scheduler kube-proxy)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { echo "k8s-local: $*"; }
die() { echo "k8s-local: error: $*" >&2; exit 1; }
kctl() { kubectl --kubeconfig "$KUBECONFIG_PATH" "$@" 2>/dev/null; }
ctr_() { ctr -a "$SOCK" -n k8s.io "$@"; }
pid_of() { local p; p=$(cat "$RUN/pids/$1.pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"; }

primary_ip() {  # the source address of the default route, else the first global IPv4
    local ip
    ip=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' || true)
    [ -n "$ip" ] || ip=$(ip -4 -o addr show scope global | awk '{split($4, a, "/"); print a[1]; exit}' || true)
    [ -n "$ip" ] || die "no global IPv4 address on this host"
    echo "$ip"
}

# ---------------------------------------------------------------- build
built() {
    [ "$(cat "$BIN/.version" 2>/dev/null)" = "$VERSION" ] || return 1
    local b; for b in "${K8S_BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}

cmd_build() {
    local t0=$SECONDS
    if built; then say "binaries: $VERSION cached in $BIN"; return; fi
    command -v go >/dev/null || die "Go is needed to build the Kubernetes binaries"
    say "building Kubernetes $VERSION into $BIN (cold: ~6 min on 2 cores)"
    mkdir -p "$CACHE/src" "$BIN"
    local gomod staging=v0.${VERSION#v1.} minor=${VERSION#v1.}
    gomod=$(cd / && { GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$VERSION" || true; } |
        sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
    [ -f "$gomod" ] || die "go mod download k8s.io/kubernetes@$VERSION failed"
    # k8s.io/kubernetes replaces its staging modules with ./staging paths; point them at
    # their published v0.X.Y versions instead.
    {
        printf 'module choreograph.local/k8sbuild\n\n%s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' \
            "$(grep -m1 '^go ' "$gomod")" "$VERSION"
        sed -n "s#^\t\(k8s.io/[^ ]*\) => ./staging/src/.*#\t\1 => \1 $staging#p" "$gomod"
        printf ')\n'
    } >"$CACHE/src/go.mod"
    local x ldflags="-s -w"
    for x in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $x.gitVersion=$VERSION -X $x.gitMajor=1 -X $x.gitMinor=${minor%%.*}"
    done
    (cd "$CACHE/src" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -ldflags "$ldflags" -o "$BIN/" \
        "${K8S_BINARIES[@]/#/k8s.io/kubernetes/cmd/}") || die "go build failed"
    echo "$VERSION" >"$BIN/.version"
    say "built $VERSION in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- host setup
ensure_packages() {
    local missing=() cmd pkg
    for cmd in etcd:etcd-server containerd:containerd runc:runc openssl:openssl \
        iptables:iptables conntrack:conntrack kubectl:kubectl; do
        command -v "${cmd%%:*}" >/dev/null || missing+=("${cmd#*:}")
    done
    [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
    [ ${#missing[@]} -eq 0 ] && return
    for pkg in "${missing[@]}"; do
        [ "$pkg" = kubectl ] && die "kubectl is missing (no Debian package; install it first)"
    done
    say "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
}

cert() {  # cert NAME SUBJECT [SAN]: a key and a CA-signed certificate in $PKI
    local name=$1 subj=$2 san=${3:-}
    openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subj" \
        -out "$PKI/$name.csr" 2>/dev/null
    openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -days 3650 \
        -set_serial "0x$(openssl rand -hex 8)" -out "$PKI/$name.crt" -extfile <(
            echo "basicConstraints=CA:FALSE"
            echo "keyUsage=critical,digitalSignature,keyEncipherment"
            echo "extendedKeyUsage=serverAuth,clientAuth"
            [ -z "$san" ] || echo "subjectAltName=$san"
        ) 2>/dev/null
    rm -f "$PKI/$name.csr"
}

kubeconfig() {  # kubeconfig NAME: $HOME_DIR/NAME.kubeconfig with the cert $PKI/NAME
    cat >"$HOME_DIR/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: choreograph
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $1
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$1.crt")
    client-key-data: $(base64 -w0 "$PKI/$1.key")
contexts:
- name: choreograph
  context: {cluster: choreograph, user: $1}
current-context: choreograph
EOF
}

setup_pki() {  # once per state dir; the apiserver cert again when the host IP changed
    mkdir -p "$PKI" && chmod 700 "$PKI"
    if [ ! -f "$PKI/ca.crt" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" \
            -days 3650 -subj "/CN=choreograph-k8s-ca" 2>/dev/null
        openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
        openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
        cert admin "/O=system:masters/CN=choreograph-admin"
        cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
        cert kube-controller-manager "/CN=system:kube-controller-manager"
        cert kube-scheduler "/CN=system:kube-scheduler"
        cert kube-proxy "/CN=system:kube-proxy"
        cert kubelet "/O=system:nodes/CN=system:node:$NODE"
        local n; for n in admin kube-controller-manager kube-scheduler kube-proxy kubelet; do
            kubeconfig "$n"
        done
    fi
    if ! openssl x509 -in "$PKI/apiserver.crt" -noout -ext subjectAltName 2>/dev/null |
        grep -q "IP Address:$IP\b"; then
        cert apiserver "/CN=kube-apiserver" "IP:127.0.0.1,IP:10.96.0.1,IP:$IP,DNS:localhost,\
DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,\
DNS:kubernetes.default.svc.cluster.local"
    fi
}

setup_network() {  # forwarding, bridge netfilter, our CNI config, tagged ACCEPT rules
    sysctl -qw net.ipv4.ip_forward=1
    [ -e /proc/sys/net/bridge ] || modprobe br_netfilter 2>/dev/null || true
    if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
        sysctl -qw net.bridge.bridge-nf-call-iptables=1
    else
        say "warning: no br_netfilter: pod→Service→pod on the same node may fail"
    fi
    mkdir -p "$HOME_DIR/cni/net.d"
    cat >"$HOME_DIR/cni/net.d/10-choreograph.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "$TAG", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$HOME_DIR/cni/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
    local rule
    for rule in "FORWARD -o $BRIDGE" "FORWARD -i $BRIDGE" "INPUT -i $BRIDGE"; do
        # shellcheck disable=SC2086  # $rule is a chain and a match, split on purpose
        iptables -C $rule -m comment --comment "$TAG" -j ACCEPT 2>/dev/null ||
            iptables -I $rule -m comment --comment "$TAG" -j ACCEPT
    done
}

# ---------------------------------------------------------------- components
start() {  # start NAME COMMAND…: in its own session, logging to $LOGS/NAME.log
    local name=$1; shift
    if pid_of "$name" >/dev/null; then return; fi
    setsid nohup "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN/pids/$name.pid"
}

wait_for() {  # wait_for NAME SECONDS TEST…: until TEST passes; fail with NAME's log
    local name=$1 limit=$2 i; shift 2
    for ((i = 0; i < limit * 5; i++)); do
        "$@" >/dev/null 2>&1 && return
        pid_of "$name" >/dev/null || break
        sleep 0.2
    done
    echo "k8s-local: error: $name did not come up; the end of $LOGS/$name.log:" >&2
    tail -n 30 "$LOGS/$name.log" >&2
    exit 1
}

start_etcd() {  # our own etcd on loopback, away from a Debian etcd's 2379/2380
    start etcd etcd --name choreo --data-dir "$HOME_DIR/etcd" \
        --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
        --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
        --initial-cluster choreo=http://127.0.0.1:23800 --quota-backend-bytes 4294967296
    wait_for etcd 20 curl -sf "$ETCD_URL/health"
}

start_apiserver() {
    start kube-apiserver "$BIN/kube-apiserver" --etcd-servers "$ETCD_URL" \
        --advertise-address "$IP" --secure-port 6443 --allow-privileged \
        --service-cluster-ip-range "$SERVICE_CIDR" --authorization-mode Node,RBAC \
        --client-ca-file "$PKI/ca.crt" \
        --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
        --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
        --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
        --kubelet-preferred-address-types InternalIP,Hostname \
        --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
        --service-account-issuer https://kubernetes.default.svc
    wait_for kube-apiserver 60 kubectl --kubeconfig "$KUBECONFIG_PATH" get --raw /readyz
}

start_controllers() {  # controller-manager and scheduler: no leader election (one node)
    local k=$HOME_DIR/kube-controller-manager.kubeconfig s=$HOME_DIR/kube-scheduler.kubeconfig
    start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$k" \
        --authentication-kubeconfig "$k" --authorization-kubeconfig "$k" \
        --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
        --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
        --root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" \
        --allocate-node-cidrs=false --service-cluster-ip-range "$SERVICE_CIDR" \
        --kube-api-qps 100 --kube-api-burst 200
    start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$s" \
        --authentication-kubeconfig "$s" --authorization-kubeconfig "$s" \
        --bind-address 127.0.0.1 --leader-elect=false --kube-api-qps 100 --kube-api-burst 200
}

start_containerd() {
    mkdir -p "$HOME_DIR/containerd"
    cat >"$HOME_DIR/containerd/config.toml" <<EOF
version = 2
root = "$HOME_DIR/containerd/root"
state = "$RUN/containerd"
[grpc]
  address = "$SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$HOME_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  sandbox_image = "$PAUSE"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$HOME_DIR/cni/net.d"
EOF
    start containerd containerd --config "$HOME_DIR/containerd/config.toml"
    wait_for containerd 20 ctr -a "$SOCK" version
    ctr_ images ls -q | grep -qx "$PAUSE" || { pause_image && ctr_ images import "$CACHE/pause.tar" >/dev/null; }
}

pause_image() {  # $CACHE/pause.tar: k8s-pause/main.go as a docker-archive image
    [ -f "$CACHE/pause.tar" ] && return
    say "building the pause image"
    (cd "$HERE/k8s-pause" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$CACHE/pause" ./main.go)
    python3 - "$CACHE/pause" "$PAUSE" "$(go env GOARCH)" "$CACHE/pause.tar" <<'EOF'
import hashlib, io, json, sys, tarfile
binary, tag, arch, out = sys.argv[1:]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.USTAR_FORMAT) as t:
    t.add(binary, arcname="pause", filter=lambda i: (setattr(i, "mode", 0o755), i)[1])
layer = layer.getvalue()
diff_id = hashlib.sha256(layer).hexdigest()
config = json.dumps({"architecture": arch, "os": "linux", "config": {"Entrypoint": ["/pause"]},
                     "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]}}).encode()
config_name = hashlib.sha256(config).hexdigest() + ".json"
manifest = json.dumps([{"Config": config_name, "RepoTags": [tag],
                        "Layers": [f"{diff_id}/layer.tar"]}]).encode()
with tarfile.open(out, "w") as t:
    for name, data in ((f"{diff_id}/layer.tar", layer), (config_name, config),
                       ("manifest.json", manifest)):
        info = tarfile.TarInfo(name); info.size = len(data)
        t.addfile(info, io.BytesIO(data))
EOF
}

start_kubelet() {
    local resolv=/etc/resolv.conf
    [ -f /run/systemd/resolve/resolv.conf ] && resolv=/run/systemd/resolve/resolv.conf  # not 127.0.0.53
    cat >"$HOME_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$SOCK
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}, x509: {clientCAFile: $PKI/ca.crt}}
authorization: {mode: AlwaysAllow}
failSwapOn: false
resolvConf: $resolv
podLogsDir: $HOME_DIR/pod-logs
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%, imagefs.inodesFree: 1%}
maxPods: 250
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
allowedUnsafeSysctls: ["net.*"]
EOF
    start kubelet "$BIN/kubelet" --config "$HOME_DIR/kubelet.yaml" --root-dir "$HOME_DIR/kubelet" \
        --cert-dir "$HOME_DIR/kubelet/pki" \
        --kubeconfig "$HOME_DIR/kubelet.kubeconfig" --hostname-override "$NODE" --node-ip "$IP"
    start kube-proxy "$BIN/kube-proxy" --kubeconfig "$HOME_DIR/kube-proxy.kubeconfig" \
        --proxy-mode iptables --cluster-cidr "$CLUSTER_CIDR" --hostname-override "$NODE" \
        --bind-address "$IP" --conntrack-max-per-core 0 --metrics-bind-address 127.0.0.1:10249
}

node_ready() {
    [ "$(kctl get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

# ---------------------------------------------------------------- subcommands
cmd_up() {
    [ "$(id -u)" = 0 ] || die "run as root"
    local t0=$SECONDS
    if all_running && node_ready; then say "already up: node $NODE Ready"; say "kubeconfig: $KUBECONFIG_PATH"; return; fi
    cmd_build
    ensure_packages
    IP=$(primary_ip)
    mkdir -p "$RUN/pids" "$LOGS"
    setup_pki
    setup_network
    start_etcd
    start_apiserver
    start_controllers
    start_containerd
    start_kubelet
    wait_for kubelet 60 node_ready
    wait_for kube-controller-manager 30 kctl get serviceaccount default -n default
    local c; for c in "${COMPONENTS[@]}"; do
        pid_of "$c" >/dev/null || wait_for "$c" 0 false
    done
    say "up in $((SECONDS - t0)) s: node $NODE ($IP) Ready"
    say "kubeconfig: $KUBECONFIG_PATH"
}

all_running() {
    local c; for c in "${COMPONENTS[@]}"; do pid_of "$c" >/dev/null || return 1; done
}

any_alive() {  # a zombie counts as gone: init may take seconds to reap it
    local p s
    for p; do
        s=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$p/stat" 2>/dev/null) || continue
        [ -z "$s" ] || [ "$s" = Z ] || return 0
    done
    return 1
}

stop() {  # stop [-9] NAME…: signal them all (TERM), wait up to 10 s, then KILL
    local sig=TERM name pid pids=() i
    [ "$1" = -9 ] && { sig=KILL; shift; }
    for name in "$@"; do
        pid=$(pid_of "$name") && kill -s "$sig" "$pid" 2>/dev/null && pids+=("$pid")
        rm -f "$RUN/pids/$name.pid"
    done
    for ((i = 0; i < 100; i++)); do any_alive "${pids[@]}" || return 0; sleep 0.1; done
    kill -9 "${pids[@]}" 2>/dev/null || true
}

kill_pods() {  # kill_pods KEEP: every container of ours; if KEEP, also its records
    local pids ids pid
    if pid_of containerd >/dev/null; then
        pids=$(ctr_ tasks ls 2>/dev/null | awk 'NR > 1 && $2 > 0 {print $2}' || true)
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    fi
    # hostPID pods' other processes, by their pod cgroups (cgroup v1 and v2)
    find /sys/fs/cgroup/pids/kubepods /sys/fs/cgroup/kubepods -name cgroup.procs -exec cat {} + \
        2>/dev/null | while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done || true
    if $1 && pid_of containerd >/dev/null; then  # kept images: leave no stale containers
        sleep 0.5
        ids=$(ctr_ tasks ls -q 2>/dev/null || true)  # each delete takes a shim round trip
        [ -z "$ids" ] || xargs -n 20 -P 4 ctr -a "$SOCK" -n k8s.io tasks delete -f <<<"$ids" >/dev/null 2>&1 || true
        ids=$(ctr_ containers ls -q 2>/dev/null || true)
        [ -z "$ids" ] || xargs -n 50 -P 4 ctr -a "$SOCK" -n k8s.io containers delete <<<"$ids" >/dev/null 2>&1 || true
    fi
}

drop_iptables() {  # rules tagged choreograph-k8s (ours, the CNI plugins'), KUBE-* chains
    local ipt t rules chains c drop
    for ipt in iptables ip6tables; do
        command -v "$ipt-restore" >/dev/null || continue
        for t in filter nat mangle raw; do
            rules=$("$ipt-save" -t "$t" 2>/dev/null) || continue
            chains=$(sed -n -e 's/^:\(KUBE-[^ ]*\).*/\1/p' -e "/$TAG/s/.* -j \(CNI-[^ ]*\).*/\1/p" <<<"$rules" | sort -u)
            drop="$TAG|-j KUBE-"
            # portmap's shared CNI-HOSTPORT-* chains too, unless another CNI network maps ports
            if grep -q '^:CNI-HOSTPORT-' <<<"$rules" && ! awk -v tag="$TAG" \
                '/^-A CNI-HOSTPORT-DNAT / && !index($0, tag) {f = 1} END {exit !f}' <<<"$rules"; then
                chains+=$'\n'$(sed -n 's/^:\(CNI-HOSTPORT-[^ ]*\).*/\1/p' <<<"$rules")
                drop+="|-j CNI-HOSTPORT-"
            fi
            {   # one transaction per table: quick even with hundreds of pods' CNI chains
                echo "*$t"
                grep -E -e "$drop" <<<"$rules" | grep -v '^-A KUBE-' | sed 's/^-A /-D /' || true
                for c in $chains; do echo "-F $c"; done
                for c in $chains; do echo "-X $c"; done
                echo COMMIT
            } | "$ipt-restore" --noflush 2>/dev/null || say "warning: some $ipt -t $t rules of ours are left"
        done
    done
}

cmd_down() {
    [ "$(id -u)" = 0 ] || die "run as root"
    local keep=false t0=$SECONDS m ns
    [ "${1:-}" = --keep-images ] && keep=true
    # No graceful shutdown where the state goes anyway: TERM takes the apiserver and etcd
    # seconds each (and the apiserver hangs if etcd goes first). containerd's images stay.
    stop -9 kubelet kube-proxy
    kill_pods $keep
    if [ -x "$BIN/kube-proxy" ]; then "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
    stop containerd
    stop -9 kube-scheduler kube-controller-manager kube-apiserver etcd
    for m in $(pgrep -f "containerd-shim.* -address $SOCK( |$)" || true); do kill -9 "$m" 2>/dev/null || true; done
    for ns in /run/netns/cni-*; do  # our pods' network namespaces: an address in POD_CIDR
        ip -n "${ns##*/}" -4 -o addr show 2>/dev/null | grep -q " ${POD_CIDR%.*}\." && echo "$ns"
    done | xargs -r sh -c 'umount -l "$@" 2>/dev/null; rm -f "$@"' - || true
    awk '{print $5}' /proc/self/mountinfo | grep -E "^($HOME_DIR|$RUN)/" | sort -r |
        xargs -r umount -l 2>/dev/null || true
    for m in "$BRIDGE" $(sed -n 's/.*"bridge": "\([^"]*\)".*/\1/p' "$HOME_DIR"/cni/net.d/*.conflist 2>/dev/null || true); do
        ip link del "$m" 2>/dev/null || true  # also the one an older config named
    done
    drop_iptables
    find /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods -depth -type d -exec rmdir {} + 2>/dev/null || true
    # what the kubelet and libcni keep in fixed places: log links, CNI results, a socket
    find /var/log/containers -lname "$HOME_DIR/*" -delete 2>/dev/null || true
    rm -f /var/lib/cni/results/"$TAG"-* /var/lib/kubelet/device-plugins/kubelet.sock
    rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null || true
    if $keep; then  # all but containerd's images and the certificates
        find "$HOME_DIR" -mindepth 1 -maxdepth 1 ! -name containerd ! -name pki ! -name '*.kubeconfig' \
            -exec rm -rf {} +
        rm -rf "$HOME_DIR/containerd/opt" "$HOME_DIR"/containerd/root/io.containerd.grpc.v1.cri/*
    else
        rm -rf "$HOME_DIR"
    fi
    rm -rf "$RUN"
    say "down in $((SECONDS - t0)) s$($keep && echo " (images kept)")"
}

cmd_status() {
    local c p rc=1
    for c in "${COMPONENTS[@]}"; do
        p=$(pid_of "$c") && printf '%-24s pid %s\n' "$c" "$p" || printf '%-24s not running\n' "$c"
    done
    if [ -f "$KUBECONFIG_PATH" ] && kctl get nodes -o wide; then node_ready && rc=0; fi
    if [ $rc = 0 ]; then say "node $NODE Ready"; else say "not Ready"; fi
    return $rc
}

cmd_load_image() {
    [ $# -gt 0 ] || die "usage: load-image TARBALL|DOCKER-REF…"
    [ -S "$SOCK" ] || die "the cluster's containerd is not running ($SOCK); run up first"
    local ref
    for ref in "$@"; do
        say "importing $ref"
        if [ -f "$ref" ]; then
            ctr_ images import "$ref"
        else
            docker save "$ref" | ctr_ images import -
        fi
    done
}

case "${1:-}" in
    build) cmd_build ;;
    up) cmd_up ;;
    down) shift; cmd_down "$@" ;;
    status) cmd_status ;;
    load-image) shift; cmd_load_image "$@" ;;
    env) echo "export KUBECONFIG=$KUBECONFIG_PATH" ;;
    *) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 2 ;;
esac
