"""The measuring half of scripts/bench (which installs, builds and runs the broker).

Environment (set by scripts/bench):
    BENCH_PORT     AMQP port of the throwaway node (127.0.0.1)
    AMQPCTL        the release binary
    CEILING        the raw-frame client built from ceiling.rs
    BENCH_TMP      scratch directory (removed by scripts/bench)
    RUNS           runs per throughput case (default 3)
    QUICK          1 skips the million-message memory cases
    N              messages per throughput case (default 100000)
    N_PIKA_CONFIRM messages for pika with confirms (default N; it waits for each ack)
    ONESHOT_RUNS   runs per one-shot client (default 50)
    N_MEM          messages for the memory cases (default 1000000)

Every client runs as a process of its own and is timed from spawn. A publish counts as
done when the queue holds all its messages (a passive queue.declare polled after the
client exits); a consume when the client exits having written and acked N messages.
"""

import os
import platform
import statistics
import subprocess
import sys
import time

import pika

PORT = int(os.environ["BENCH_PORT"])
AMQPCTL = os.environ["AMQPCTL"]
CEILING = os.environ["CEILING"]
TMP = os.environ["BENCH_TMP"]
RUNS = int(os.environ.get("RUNS", "3"))
QUICK = os.environ.get("QUICK", "") not in ("", "0")
N = int(os.environ.get("N", "100000"))
N_PIKA_CONFIRM = int(os.environ.get("N_PIKA_CONFIRM", str(N)))
ONESHOT_RUNS = int(os.environ.get("ONESHOT_RUNS", "50"))
N_MEM = int(os.environ.get("N_MEM", "1000000"))
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pika_peer.py")
PY = sys.executable

QUEUE = "bench"
ONESHOT_QUEUE = "q"
BODY_SIZE = 100
# `amqpctl pub --nb-messages` sends `I:TEXT`; with 94 bytes of TEXT, messages 10000-99999
# are exactly 100 bytes (the rest 96-101).
TEXT = "x" * (BODY_SIZE - len("10000:"))
CONN = ["-s", "127.0.0.1", "--port-number", str(PORT)]
CLIENT_TIMEOUT = 600
COUNT_TIMEOUT = 120

errors = []


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class CaseError(Exception):
    pass


class Broker:
    """A pika connection of the driver's own, for declares, purges and counting."""

    def __init__(self):
        self.conn = None
        self.ch = None
        self.connect()

    def connect(self):
        params = pika.ConnectionParameters(
            host="127.0.0.1",
            port=PORT,
            credentials=pika.PlainCredentials("guest", "guest"),
            heartbeat=0,  # idle for minutes while clients run
        )
        self.conn = pika.BlockingConnection(params)
        self.ch = self.conn.channel()

    def call(self, fn):
        try:
            return fn(self.ch)
        except (pika.exceptions.AMQPError, OSError):
            self.connect()
            return fn(self.ch)

    def server(self):
        props = self.conn._impl.server_properties
        dec = lambda v: v.decode() if isinstance(v, bytes) else str(v)
        return dec(props.get("version", "?")), dec(props.get("platform", "?"))

    def reset(self, queue):
        """A fresh, empty, non-durable queue."""
        self.call(lambda ch: ch.queue_delete(queue))
        self.call(lambda ch: ch.queue_declare(queue))

    def count(self, queue):
        return self.call(lambda ch: ch.queue_declare(queue, passive=True)).method.message_count

    def wait_count(self, queue, n, timeout=COUNT_TIMEOUT):
        """Polls until `queue` holds `n` ready messages; returns when it did."""
        deadline = time.perf_counter() + timeout
        last = -1
        while True:
            c = self.count(queue)
            now = time.perf_counter()
            if c == n:
                return now
            if c > n:
                raise CaseError(f"queue {queue} holds {c} messages, expected {n}")
            if now > deadline:
                raise CaseError(f"queue {queue} stuck at {c} of {n} messages after {timeout}s")
            last = c
            time.sleep(0.002)


def run(cmd, stdout=subprocess.DEVNULL, shell=False):
    """Runs a client; raises CaseError on failure. Returns its stderr."""
    try:
        p = subprocess.run(
            cmd, stdout=stdout, stderr=subprocess.PIPE, timeout=CLIENT_TIMEOUT, shell=shell
        )
    except subprocess.TimeoutExpired:
        raise CaseError(f"timed out after {CLIENT_TIMEOUT}s: {cmd}")
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise CaseError(f"exit {p.returncode}: {short(cmd)}: {' | '.join(err)}")
    return p.stderr


def short(cmd):
    s = cmd if isinstance(cmd, str) else " ".join(cmd)
    return s if len(s) < 160 else s[:157] + "..."


def preload(broker, queue, n):
    broker.reset(queue)
    run([CEILING, "127.0.0.1", str(PORT), queue, str(n), str(BODY_SIZE)])
    broker.wait_count(queue, n)


# ---------------------------------------------------------------- cases


def publish_once(broker, cmd, n):
    broker.reset(QUEUE)
    t0 = time.perf_counter()
    run(cmd)
    t_exit = time.perf_counter()
    t_full = broker.wait_count(QUEUE, n)
    return n / (t_full - t0), t_full - t_exit


def consume_once(broker, cmd, n, out_path):
    preload(broker, QUEUE, n)
    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        run(cmd, stdout=out)
        t1 = time.perf_counter()
    with open(out_path, "rb") as f:
        lines = sum(1 for _ in f)
    if lines != n:
        raise CaseError(f"{short(cmd)} wrote {lines} lines, expected {n}")
    # Unacked messages go back to the queue once the connection is gone.
    time.sleep(0.2)
    left = broker.count(QUEUE)
    if left != 0:
        raise CaseError(f"{short(cmd)} left {left} messages in the queue (not acked)")
    return n / (t1 - t0), 0.0


class Series:
    def __init__(self, name, n):
        self.name = name
        self.n = n
        self.rates = []
        self.lags = []
        self.error = None

    def add(self, fn):
        if self.error:
            return
        try:
            rate, lag = fn()
            self.rates.append(rate)
            self.lags.append(lag)
        except CaseError as e:
            self.error = str(e)
            errors.append(f"{self.name}: {e}")
            log(f"FAILED {self.name}: {e}")

    def median(self):
        return statistics.median(self.rates) if self.rates and not self.error else None


def throughput(broker, group, entries):
    """entries: list of (Series, thunk). Runs them interleaved, RUNS times."""
    for r in range(RUNS):
        for series, thunk in entries:
            series.add(thunk)
            if series.rates and not series.error:
                log(f"{group} run {r + 1}/{RUNS}: {series.name}: {series.rates[-1]:,.0f} msg/s")
    return [s for s, _ in entries]


def oneshot(broker):
    broker.reset(ONESHOT_QUEUE)
    cmds = {
        "amqpctl pub": [AMQPCTL, "pub", *CONN, "-k", ONESHOT_QUEUE, "-m", "x"],
        # Not a target: shows what the default --interval costs a single message.
        "amqpctl pub --interval 0": [
            AMQPCTL, "pub", *CONN, "-k", ONESHOT_QUEUE, "-m", "x", "--interval", "0"],
        "amqp-publish": [
            "amqp-publish", "-u", f"amqp://guest:guest@127.0.0.1:{PORT}",
            "-r", ONESHOT_QUEUE, "-b", "x",
        ],
    }
    times = {k: [] for k in cmds}
    errs = {}
    for _ in range(3):  # warm-up: page cache, broker's first connections
        for name, cmd in cmds.items():
            try:
                run(cmd)
            except CaseError as e:
                errs[name] = str(e)
    for _ in range(ONESHOT_RUNS):
        for name, cmd in cmds.items():
            if name in errs:
                continue
            t0 = time.perf_counter()
            try:
                run(cmd)
            except CaseError as e:
                errs[name] = str(e)
                continue
            times[name].append((time.perf_counter() - t0) * 1000)
    for name, e in errs.items():
        errors.append(f"one-shot {name}: {e}")
        log(f"FAILED one-shot {name}: {e}")
    broker.call(lambda ch: ch.queue_purge(ONESHOT_QUEUE))
    return times, errs


def rate_accuracy(broker, asked=1000, seconds=10):
    """`pub --rate`: the rate achieved over `seconds`, from process start to
    the last message on the queue, against the rate asked for."""
    n = asked * seconds
    broker.reset(QUEUE)
    t0 = time.perf_counter()
    run([AMQPCTL, "pub", *CONN, "-k", QUEUE, "--nb-messages", str(n + 1), "--rate",
         str(asked), "--quiet", "-m", "x"])
    t_full = broker.wait_count(QUEUE, n + 1)
    # n gaps between n + 1 messages.
    return n / (t_full - t0)


def p90(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]


def memory(broker):
    """Peak RSS (KiB) and rate of the two million-message runs; None when not run."""
    res = {}
    has_lines = b"--lines" in subprocess.run(
        [AMQPCTL, "pub", "--help"], capture_output=True
    ).stdout
    rss_file = os.path.join(TMP, "rss")
    if has_lines:
        broker.reset(QUEUE)
        cmd = (
            f"seq {N_MEM} | /usr/bin/time -f %M -o {rss_file} "
            f"{AMQPCTL} pub {' '.join(CONN)} -k {QUEUE} --lines --interval 0 >/dev/null"
        )
        try:
            t0 = time.perf_counter()
            run(["bash", "-c", "set -o pipefail; " + cmd])
            t1 = broker.wait_count(QUEUE, N_MEM, timeout=300)
            res["pub"] = (int(open(rss_file).read().split()[-1]), N_MEM / (t1 - t0))
            log(f"memory pub --lines: {res['pub'][0] / 1024:.1f} MiB, {res['pub'][1]:,.0f} msg/s")
        except CaseError as e:
            res["pub"] = str(e)
            errors.append(f"memory pub --lines: {e}")
            log(f"FAILED memory pub --lines: {e}")
    else:
        res["pub"] = "n/a (no --lines)"
    try:
        if broker.count(QUEUE) != N_MEM:
            log(f"pre-loading {N_MEM:,} messages with the ceiling client")
            preload(broker, QUEUE, N_MEM)
        cmd = (
            f"/usr/bin/time -f %M -o {rss_file} "
            f"{AMQPCTL} con {' '.join(CONN)} -q {QUEUE} --count {N_MEM} | cat >/dev/null"
        )
        t0 = time.perf_counter()
        run(["bash", "-c", "set -o pipefail; " + cmd])
        t1 = time.perf_counter()
        res["con"] = (int(open(rss_file).read().split()[-1]), N_MEM / (t1 - t0))
        log(f"memory con: {res['con'][0] / 1024:.1f} MiB, {res['con'][1]:,.0f} msg/s")
    except CaseError as e:
        res["con"] = str(e)
        errors.append(f"memory con: {e}")
        log(f"FAILED memory con: {e}")
    broker.reset(QUEUE)
    return res


# ---------------------------------------------------------------- report


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def cmd_version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        return "?"


def fmt_rate(x):
    return f"{x:,.0f}" if x is not None else "-"


def pct(a, b):
    return a / b if a is not None and b else None


def main():
    t_start = time.perf_counter()
    broker = Broker()
    rmq, erl = broker.server()
    git = cmd_version(["git", "describe", "--always", "--dirty"])
    header = [
        ("CPUs (nproc)", str(os.cpu_count() if not hasattr(os, "sched_getaffinity") else len(os.sched_getaffinity(0)))),
        ("CPU model", cpu_model()),
        ("load average", " ".join(open("/proc/loadavg").read().split()[:3])),
        ("RabbitMQ", rmq),
        ("Erlang", erl),
        ("rustc", cmd_version(["rustc", "--version"])),
        ("amqpctl", f"{cmd_version([AMQPCTL, '--version'])} (git {git})"),
        ("pika", pika.__version__),
        ("amqp-publish", "amqp-tools " + cmd_version(["dpkg-query", "-W", "-f", "${Version}", "amqp-tools"])),
        ("runs", f"{RUNS} per throughput case, {ONESHOT_RUNS} per one-shot client, N = {N:,}"),
    ]
    print("== machine", flush=True)
    for k, v in header:
        print(f"  {k:<14} {v}")
    print(flush=True)

    body_cmd = [AMQPCTL, "pub", *CONN, "-k", QUEUE, "--nb-messages", str(N), "--interval", "0", "-m", TEXT]
    ceiling_cmd = [CEILING, "127.0.0.1", str(PORT), QUEUE, str(N), str(BODY_SIZE)]

    # 1. publish, no confirms (and the ceiling)
    pub = Series("amqpctl pub", N)
    pub_pika = Series("pika basic_publish", N)
    ceil = Series("ceiling (raw frames)", N)
    throughput(broker, "publish", [
        (pub, lambda: publish_once(broker, body_cmd, N)),
        (pub_pika, lambda: publish_once(broker, [PY, PEER, "publish", str(PORT), QUEUE, str(N), TEXT], N)),
        (ceil, lambda: publish_once(broker, ceiling_cmd, N)),
    ])

    # 2. publish with confirms
    conf = Series("amqpctl pub --confirm", N)
    conf_pika = Series("pika confirm_delivery", N_PIKA_CONFIRM)
    throughput(broker, "confirm", [
        (conf, lambda: publish_once(broker, body_cmd + ["--confirm"], N)),
        (conf_pika, lambda: publish_once(
            broker, [PY, PEER, "confirm", str(PORT), QUEUE, str(N_PIKA_CONFIRM), TEXT], N_PIKA_CONFIRM)),
    ])

    # 3. consume, manual ack, prefetch 1000
    out_path = os.path.join(TMP, "consumed")
    con = Series("amqpctl con", N)
    con_pika = Series("pika basic_consume", N)
    throughput(broker, "consume", [
        (con, lambda: consume_once(
            broker, [AMQPCTL, "con", *CONN, "-q", QUEUE, "--count", str(N), "--prefetch", "1000"], N, out_path)),
        (con_pika, lambda: consume_once(
            broker, [PY, PEER, "consume", str(PORT), QUEUE, str(N), "1000", out_path], N, out_path)),
    ])

    # 4. one message, process start to exit
    log(f"one-shot: {ONESHOT_RUNS} runs each")
    shot, shot_errs = oneshot(broker)

    # 5. memory
    mem = None
    if QUICK:
        log("QUICK=1: skipping the million-message memory cases")
    else:
        log(f"memory: {N_MEM:,} messages each way")
        mem = memory(broker)

    # ------------------------------------------------------------ table
    print("== throughput (msg/s; each client a process of its own, timed from spawn; a publish")
    print("   ends when the queue holds every message, a consume when the client exits)")
    w = 30
    print(f"  {'case':<9} {'client':<{w}} {'msgs':>9} {'median':>10} {'min':>10} {'max':>10} {'tail s':>7}")
    groups = [("publish", [pub, pub_pika, ceil]), ("confirm", [conf, conf_pika]), ("consume", [con, con_pika])]
    for group, series in groups:
        for s in series:
            if s.error or not s.rates:
                print(f"  {group:<9} {s.name:<{w}} {s.n:>9,} {'FAILED':>10}")
                continue
            lag = statistics.median(s.lags)
            tail = f"{lag:7.2f}" if group != "consume" else f"{'':>7}"
            print(
                f"  {group:<9} {s.name:<{w}} {s.n:>9,} {fmt_rate(s.median()):>10} "
                f"{fmt_rate(min(s.rates)):>10} {fmt_rate(max(s.rates)):>10} {tail}"
            )
    print("  (tail s: median time from the publisher's exit until the queue held every message)")
    print()

    print("== one message, process start to exit (ms)")
    print(f"  {'client':<{w}} {'runs':>9} {'median':>10} {'p90':>10} {'min':>10} {'max':>10}")
    for name, ts in shot.items():
        if name in shot_errs or not ts:
            print(f"  {name:<{w}} {len(ts):>9} {'FAILED':>10}")
            continue
        print(
            f"  {name:<{w}} {len(ts):>9} {statistics.median(ts):>10.1f} {p90(ts):>10.1f} "
            f"{min(ts):>10.1f} {max(ts):>10.1f}"
        )
    print()

    print(f"== memory (peak RSS of amqpctl, {N_MEM:,} messages)")
    mem_rows = [
        ("pub", f"seq {N_MEM} | amqpctl pub -k Q --lines --interval 0"),
        ("con", f"amqpctl con -q Q --count {N_MEM} | cat"),
    ]
    for key, label in mem_rows:
        v = None if mem is None else mem.get(key)
        if v is None:
            shown = "skipped (QUICK=1)"
        elif isinstance(v, str):
            shown = v if v.startswith("n/a") else "FAILED"
        else:
            shown = f"{v[0] / 1024:7.1f} MiB   {v[1]:>10,.0f} msg/s"
        print(f"  {label:<52} {shown}")
    print()

    print("== pub --rate 1000 over 10 s (messages per second achieved; evenly spaced)")
    try:
        achieved = rate_accuracy(broker)
        print(f"  achieved {achieved:,.1f} msg/s: {100 * (achieved / 1000 - 1):+.2f} % of the rate asked")
    except CaseError as e:
        achieved = None
        print(f"  FAILED: {e}")
    print()

    # ------------------------------------------------------------ ratios and targets
    shot_med = {k: statistics.median(v) for k, v in shot.items() if v and k not in shot_errs}
    a_shot, b_shot = shot_med.get("amqpctl pub"), shot_med.get("amqp-publish")
    ratios = [
        # (label, value, kind, target, higher_is_better)
        ("amqpctl pub / ceiling", pct(pub.median(), ceil.median()), "%", 0.85, True),
        ("amqpctl pub / pika", pct(pub.median(), pub_pika.median()), "x", None, True),
        ("ceiling / pika", pct(ceil.median(), pub_pika.median()), "x", None, True),
        ("amqpctl pub --confirm / pika confirm", pct(conf.median(), conf_pika.median()), "x", 10.0, True),
        ("amqpctl pub --confirm / ceiling", pct(conf.median(), ceil.median()), "%", 0.60, True),
        ("amqpctl pub --confirm / amqpctl pub", pct(conf.median(), pub.median()), "%", None, True),
        ("amqpctl con / pika consume", pct(con.median(), con_pika.median()), "x", 3.0, True),
        ("amqpctl con / ceiling", pct(con.median(), ceil.median()), "%", None, True),
        ("one-shot amqpctl / amqp-publish (median)", pct(a_shot, b_shot), "x", 1.2, False),
        ("one-shot amqpctl --interval 0 / amqp-publish",
         pct(shot_med.get("amqpctl pub --interval 0"), b_shot), "x", None, False),
    ]

    def show(v, kind):
        if v is None:
            return "-"
        return f"{v * 100:.0f} %" if kind == "%" else f"{v:.2f}x"

    print("== ratios (of medians)")
    for label, v, kind, _, _ in ratios:
        print(f"  {label:<44} {show(v, kind):>9}")
    print()

    print("== targets")
    met_all = True
    for label, v, kind, target, higher in ratios:
        if target is None:
            continue
        want = f"{'>=' if higher else '<='} {show(target, kind)}"
        if v is None:
            verdict, met_all = "not measured", False
        elif (v >= target) if higher else (v <= target):
            verdict = "met"
        else:
            met_all = False
            if kind == "%":
                verdict = f"MISSED by {(target - v) * 100:.0f} points (needs {target / v:.2f}x faster)"
            elif higher:
                verdict = f"MISSED: needs {target / v:.2f}x faster"
            else:
                verdict = f"MISSED by {(v - target) / target * 100:.0f} % (needs {v / target:.2f}x faster)"
        print(f"  {label:<44} {show(v, kind):>9}  (target {want:<8}) {verdict}")
    limit = 30 * 1024  # KiB
    for key, label in [("pub", "peak RSS, pub --lines 1M"), ("con", "peak RSS, con --count 1M")]:
        v = None if mem is None else mem.get(key)
        if v is None:
            verdict, shown = "skipped (QUICK=1)", "-"
        elif isinstance(v, str):
            verdict, shown = (v if v.startswith("n/a") else "FAILED"), "-"
            met_all = False
        else:
            shown = f"{v[0] / 1024:.1f} MiB"
            if v[0] < limit:
                verdict = "met"
            else:
                verdict = f"MISSED by {(v[0] - limit) / 1024:.1f} MiB"
                met_all = False
        if N_MEM != 1000000:
            label = label.replace("1M", f"{N_MEM:,}")
        print(f"  {label:<44} {shown:>9}  (target {'< 30 MiB':<8}) {verdict}")
    print()
    if errors:
        print("== errors")
        for e in errors:
            print(f"  {e}")
        print()
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"measuring took {time.perf_counter() - t_start:.0f} s (load average now {load}); "
          f"{'all targets met' if met_all else 'some targets missed'}", flush=True)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
