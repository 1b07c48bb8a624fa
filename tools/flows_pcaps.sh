#!/usr/bin/env bash
# The whole flow pipeline on the shared captures, labelled by file:
#   extract flows (attack files: flows towards the victim get the file's class,
#   the victim's replies are normal), train the MLP on them and k-means on the
#   normal flows only, then detect on every capture and count flagged flows,
#   flagged flows towards the victim and alarms.
#
#   tools/flows_pcaps.sh [OUT_DIR]          train on all files, detect on all
#   LOFO=1 tools/flows_pcaps.sh [OUT_DIR]   also leave-one-file-out: for each
#                                           file, train without it, detect on it
#
# Prints a markdown table (docs/results.md, "Threat detection"). Needs
# $VIGIL_DATA/pcaps; exits 0 without output when absent.
set -u
cd "$(dirname "$0")/.."
V=${VIGIL_BIN:-$PWD/vigil}
DATA=${VIGIL_DATA:-../shared/data}
P=$DATA/pcaps
OUT=${1:-/tmp/vigil-flows-pcaps}
[ -d "$P" ] || { echo "no $P: skipped" >&2; exit 0; }
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1
MLP_OPTS=${MLP_OPTS:---input-log 1e6 --class-weight balanced}

# file | class | victim (flows towards it carry the class)
FILES="stopddos/pkt.TCP.synflood.spoofed.pcap|dos|10.10.10.10
stopddos/pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng|dos|10.10.10.10
stopddos/amp.TCP.reflection.SYNACK.pcap|dos|10.10.10.10
stopddos/amp.TCP.syn.optionallyACK.optionallysamePort.pcapng|dos|10.10.10.10
esnet-curated-pcaps/attacks/scanners/masscan/tcp_0_1000_20190821.pcap|probe|198.124.152.15
esnet-curated-pcaps/attacks/scanners/masscan/udp_0_1000_20190821.pcap|probe|198.124.152.15
esnet-curated-pcaps/attacks/scanners/nmap/nmap_80_vanilla.pcap|probe|130.211.223.103
esnet-curated-pcaps/attacks/scanners/nmap/nmap_80_w_service_detection.pcap|probe|130.211.223.103
esnet-curated-pcaps/attacks/scanners/nmap/nmap_80_all.pcap|probe|130.211.223.103
zeek-traces/Traces/http/bro.org.pcap|normal|
zeek-traces/Traces/wikipedia.pcap|normal|
zeek-traces/Traces/web.pcap|normal|
zeek-traces/Traces/http/m57-long-49583-80.pcap|normal|
zeek-traces/Traces/ssh/ssh.pcap|normal|
zeek-traces/Traces/ftp/ipv4.pcap|normal|
zeek-traces/Traces/tls/ssl.v3.pcap|normal|
zeek-traces/Traces/ntp/NTP_sync.pcap|normal|
zeek-traces/Traces/dns53.pcap|normal|
zeek-traces/Traces/echo-connections.pcap.gz|normal|
esnet-curated-pcaps/protocols/whois/whois.pcap|normal|"
# Not trained on, only detected: a DHCP flood from forged addresses (one UDP
# packet per flow), one VNC scanner connection, and Scapy's flag-combination
# test captures.
EXTRA="zeek-traces/Traces/dhcp/dhcp_flood.pcap|dos|
zeek-traces/Traces/rfb/vnc-scanner.pcap|probe|192.168.0.11
esnet-curated-pcaps/tcp/control/one_way_all_flags.pcap|normal|
esnet-curated-pcaps/tcp/control/two_way_all_flags.pcap|normal|"

# extract_set CSV LABELS [SKIP_FILE]: the training set without SKIP_FILE.
extract_set() {
    local csv=$1 labels=$2 skip=${3:-} f cls victim
    rm -f "$csv" "$labels" "$csv.normal"
    while IFS='|' read -r f cls victim; do
        [ "$f" = "$skip" ] && continue
        if [ -n "$victim" ]; then
            "$V" flows extract "$P/$f" -o "$csv" --label "$cls" --label-dst "$victim" \
                --labels-out "$labels" --append 2>/dev/null || return 1
        else
            "$V" flows extract "$P/$f" -o "$csv" --label "$cls" --labels-out "$labels" \
                --append 2>/dev/null || return 1
        fi
        if [ "$cls" = normal ]; then
            "$V" flows extract "$P/$f" -o "$csv.normal" --append 2>/dev/null || return 1
        fi
    done <<<"$FILES"
}

train_models() { # CSV LABELS DIR
    nice "$V" train -q -m mlp $MLP_OPTS --train "$1" --labels "$2" -o "$3/mlp.vmdl" &&
        nice "$V" train -q -m kmeans --k 8 --quantile 0.99 --train "$1.normal" -o "$3/km.vmdl"
}

# detect_row FILE CLASS VICTIM MODEL... : one table row.
detect_row() {
    local f=$1 cls=$2 victim=$3
    shift 3
    local args=()
    for m in "$@"; do args+=(--model "$m"); done
    "$V" flows detect "${args[@]}" --alarms "$OUT/alarms.jsonl" --scores "$OUT/scores.csv" \
        "$P/$f" >/dev/null 2>"$OUT/detect.err" || { echo "| $f | error: $(tail -1 "$OUT/detect.err") |"; return; }
    : >"$OUT/alarms.jsonl.keep"
    local flows flagged to_victim n_victim alarms
    flows=$(($(wc -l <"$OUT/scores.csv") - 1))
    flagged=$(awk -F, 'NR>1 && $4!="normal"' "$OUT/scores.csv" | wc -l)
    if [ -n "$victim" ]; then
        n_victim=$(awk -F, -v v="$victim" 'NR>1 && $3==v' "$OUT/scores.csv" | wc -l)
        to_victim=$(awk -F, -v v="$victim" 'NR>1 && $3==v && $4!="normal"' "$OUT/scores.csv" | wc -l)
    else
        n_victim=-
        to_victim=-
    fi
    alarms=$(grep -c . "$OUT/alarms.jsonl" 2>/dev/null || true)
    local classes
    classes=$(awk -F, 'NR>1 && $4!="normal"{c[$4]++} END{for(k in c) printf "%s %d ", k, c[k]}' "$OUT/scores.csv")
    echo "| $(basename "$f") | $cls | $flows | $to_victim / $n_victim | $flagged | ${classes:--} | $alarms |"
    rm -f "$OUT/alarms.jsonl"
}

header() {
    echo "| capture | class | flows | flagged towards victim | flagged (all) | flagged by class | alarms |"
    echo "|---|---|---|---|---|---|---|"
}

extract_set "$OUT/train.csv" "$OUT/train.labels" || { echo "extract failed" >&2; exit 1; }
mkdir -p "$OUT/all"
train_models "$OUT/train.csv" "$OUT/train.labels" "$OUT/all" || { echo "train failed" >&2; exit 1; }
for models in "mlp" "mlp km" "km"; do
    paths=()
    for m in $models; do paths+=("$OUT/all/$m.vmdl"); done
    echo
    echo "### Trained on all files, detected with: $models"
    echo
    header
    while IFS='|' read -r f cls victim; do
        detect_row "$f" "$cls" "$victim" "${paths[@]}"
    done <<<"$FILES
$EXTRA"
done

[ "${LOFO:-0}" = 1 ] || exit 0
# Leave one file out: one training per file, both detectors on it.
: >"$OUT/lofo.mlp"
: >"$OUT/lofo.both"
while IFS='|' read -r f cls victim; do
    d="$OUT/lofo"
    mkdir -p "$d"
    extract_set "$d/train.csv" "$d/train.labels" "$f" && train_models "$d/train.csv" "$d/train.labels" "$d" || continue
    detect_row "$f" "$cls" "$victim" "$d/mlp.vmdl" >>"$OUT/lofo.mlp"
    detect_row "$f" "$cls" "$victim" "$d/mlp.vmdl" "$d/km.vmdl" >>"$OUT/lofo.both"
done <<<"$FILES"
for w in mlp both; do
    echo
    if [ $w = mlp ]; then
        echo "### Leave one file out: trained without the file, detected on it with: mlp"
    else
        echo "### Leave one file out: trained without the file, detected on it with: mlp km"
    fi
    echo
    header
    cat "$OUT/lofo.$w"
done
