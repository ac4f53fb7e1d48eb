"""The measuring half of scripts/bench (which installs, builds and runs the broker).

Environment (set by scripts/bench):
    BENCH_PORT     AMQP port of the throwaway node (127.0.0.1)
    AMQPCTL        the release binary
    CEILING        the raw-frame client built from ceiling.rs (publish, confirm, consume)
    LAPIN_PEER     the lapin peer built from lapin-peer/ ("" leaves it out)
    NODE_PEER      "node" when amqplib is installed (NODE_PATH set), "" leaves it out
    BENCH_TMP      scratch directory (removed by scripts/bench)
    RUNS           runs per throughput case (default 3)
    QUICK          1: fewer messages (N 30,000), no million-message memory cases,
                   large bodies 300 x 1 MiB, one-shot 20 runs
    N              messages per throughput case (default 100000)
    N_PIKA_CONFIRM messages for pika with confirms (default N/5; it waits for each ack)
    ONESHOT_RUNS   runs per one-shot client (default 50)
    N_MEM          messages for the memory cases (default 1000000)
    N_LARGE        messages of 1 MiB for the large-body case (default 1000)
    CONFIRM_WINDOW confirms in flight for the peers that batch them (default 1000,
                   amqpctl's default --confirm-window)

Every client runs as a process of its own and is timed from spawn. A publish counts as
done when the queue holds all its messages (a passive queue.declare polled after the
client exits); a consume when the client exits having acked N messages. The CPU time
of a client is its user + sys time as wait4(2) reports it for the child (the client's
own threads included; nothing else), and its peak RSS is wait4's ru_maxrss.
"""

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import pika

PORT = int(os.environ["BENCH_PORT"])
AMQPCTL = os.environ["AMQPCTL"]
CEILING = os.environ["CEILING"]
LAPIN = os.environ.get("LAPIN_PEER", "")
NODE = os.environ.get("NODE_PEER", "")
TMP = os.environ["BENCH_TMP"]
RUNS = int(os.environ.get("RUNS", "3"))
QUICK = os.environ.get("QUICK", "") not in ("", "0")
N = int(os.environ.get("N", "30000" if QUICK else "100000"))
N_PIKA_CONFIRM = int(os.environ.get("N_PIKA_CONFIRM", str(max(1, N // 5))))
ONESHOT_RUNS = int(os.environ.get("ONESHOT_RUNS", "20" if QUICK else "50"))
N_MEM = int(os.environ.get("N_MEM", "1000000"))
N_LARGE = int(os.environ.get("N_LARGE", "300" if QUICK else "1000"))
WINDOW = int(os.environ.get("CONFIRM_WINDOW", "1000"))
# scripts/bench's arguments: the cases to run alone ("transfer": move and redrive
# against their parts, move's window sweep, move --filter; "large": 1 MiB bodies,
# pub and con at default flags against the ceiling); none: everything.
KNOWN_CASES = {"transfer", "large"}
CASES = set(sys.argv[1:])
if CASES - KNOWN_CASES:
    sys.exit(f"bench: unknown case(s) {' '.join(sorted(CASES - KNOWN_CASES))}; known: "
             f"{' '.join(sorted(KNOWN_CASES))}")
HERE = os.path.dirname(os.path.abspath(__file__))
PIKA_PEER = os.path.join(HERE, "pika_peer.py")
NODE_SCRIPT = os.path.join(HERE, "amqplib_peer.js")
PY = sys.executable

QUEUE = "bench"
ONESHOT_QUEUE = "q"
BODY_SIZE = 100
LARGE_SIZE = 1 << 20
PREFETCH = 1000
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
        while True:
            c = self.count(queue)
            now = time.perf_counter()
            if c == n:
                return now
            if c > n:
                raise CaseError(f"queue {queue} holds {c} messages, expected {n}")
            if now > deadline:
                raise CaseError(f"queue {queue} stuck at {c} of {n} messages after {timeout}s")
            time.sleep(0.002)


class Done:
    """What a client's run left: its CPU seconds (user + sys) and peak RSS (KiB)."""

    def __init__(self, cpu, rss_kib, broker_cpu=None):
        self.cpu = cpu
        self.rss_kib = rss_kib
        self.broker_cpu = broker_cpu


def broker_cpu():
    """The node's CPU seconds so far (utime + stime of beam.smp), or None."""
    try:
        with open(os.environ["BROKER_PID_FILE"]) as f:
            pid = int(f.read().split()[0])
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (KeyError, OSError, ValueError, IndexError):
        return None


def run(cmd, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, rss=True):
    """Runs a client to its exit; raises CaseError on failure. Reaps it with wait4 so
    that its CPU time is known, and with `rss` measures its peak RSS through
    /usr/bin/time (a Done). wait4's own ru_maxrss would count this Python process: the
    child is forked (vforked) from it before exec, and the kernel keeps that peak."""
    err = tempfile.TemporaryFile(dir=TMP)
    rss_file = os.path.join(TMP, "rss")
    argv = ["/usr/bin/time", "-f", "%M", "-o", rss_file, *cmd] if rss else cmd
    b0 = broker_cpu()
    try:
        p = subprocess.Popen(argv, stdout=stdout, stdin=stdin, stderr=err)
    except OSError as e:
        raise CaseError(f"{short(cmd)}: {e}")
    timer = threading.Timer(CLIENT_TIMEOUT, lambda: os.kill(p.pid, signal.SIGKILL))
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if p.returncode != 0:
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
        if p.returncode == -signal.SIGKILL:
            raise CaseError(f"killed after {CLIENT_TIMEOUT}s: {short(cmd)}")
        raise CaseError(f"exit {p.returncode}: {short(cmd)}: {' | '.join(tail)}")
    peak = 0
    if rss:
        try:
            with open(rss_file) as f:
                peak = int(f.read().split()[-1])
        except (OSError, ValueError, IndexError):
            raise CaseError(f"{short(cmd)}: no peak RSS from /usr/bin/time")
    # CPU: the client's (and /usr/bin/time's, about a millisecond) user + sys.
    b1 = broker_cpu()
    return Done(ru.ru_utime + ru.ru_stime, peak, None if None in (b0, b1) else b1 - b0)


def short(cmd):
    s = cmd if isinstance(cmd, str) else " ".join(cmd)
    return s if len(s) < 160 else s[:157] + "..."


def preload(broker, queue, n, size=BODY_SIZE):
    broker.reset(queue)
    run([CEILING, "publish", "127.0.0.1", str(PORT), queue, str(n), str(size)])
    broker.wait_count(queue, n, timeout=300)


# ---------------------------------------------------------------- cases


class Sample:
    """One run of a throughput case: msg/s, CPU s, peak RSS KiB, and the seconds from
    the publisher's exit until the queue held everything."""

    def __init__(self, rate, done, tail=0.0):
        self.rate = rate
        self.cpu = done.cpu
        self.rss = done.rss_kib
        self.broker_cpu = done.broker_cpu
        self.tail = tail


def publish_once(broker, cmd, n, queue=QUEUE, stdin=subprocess.DEVNULL, timeout=COUNT_TIMEOUT):
    broker.reset(queue)
    t0 = time.perf_counter()
    done = run(cmd, stdin=stdin)
    t_exit = time.perf_counter()
    t_full = broker.wait_count(queue, n, timeout=timeout)
    return Sample(n / (t_full - t0), done, t_full - t_exit)


def consume_once(broker, cmd, n, out_path, queue=QUEUE, size=BODY_SIZE, lines=True):
    """`lines`: the client writes one line per message to out_path (checked); else its
    output goes to /dev/null (the 1 MiB case measures the client, not the disk)."""
    preload(broker, queue, n, size)
    with open(out_path if lines else os.devnull, "wb") as out:
        t0 = time.perf_counter()
        done = run(cmd, stdout=out)
        t1 = time.perf_counter()
    if lines:
        with open(out_path, "rb") as f:
            got = sum(1 for _ in f)
        if got != n:
            raise CaseError(f"{short(cmd)} wrote {got} lines, expected {n}")
    # Unacked messages go back to the queue once the connection is gone.
    time.sleep(0.2)
    left = broker.count(queue)
    if left != 0:
        raise CaseError(f"{short(cmd)} left {left} messages in the queue (not acked)")
    return Sample(n / (t1 - t0), done)


class Series:
    """The runs of one client on one case."""

    def __init__(self, name, n):
        self.name = name
        self.n = n
        self.samples = []
        self.error = None

    def add(self, fn):
        if self.error:
            return
        try:
            self.samples.append(fn())
        except CaseError as e:
            self.error = str(e)
            errors.append(f"{self.name}: {e}")
            log(f"FAILED {self.name}: {e}")

    def ok(self):
        return bool(self.samples) and not self.error

    def median(self):
        return statistics.median(s.rate for s in self.samples) if self.ok() else None

    def cpu_per_100k(self):
        """Median CPU seconds per 100,000 messages."""
        return statistics.median(s.cpu / self.n * 100_000 for s in self.samples) if self.ok() else None

    def broker_cpu_per_100k(self):
        """Median CPU seconds of the node, while the client ran, per 100,000 messages."""
        xs = [s.broker_cpu / self.n * 100_000 for s in self.samples if s.broker_cpu is not None]
        return statistics.median(xs) if self.ok() and xs else None

    def rss_mib(self):
        return max(s.rss for s in self.samples) / 1024 if self.ok() else None


def throughput(group, entries):
    """entries: list of (Series, thunk). Runs them interleaved, RUNS times."""
    entries = [(s, t) for s, t in entries if s is not None]
    for r in range(RUNS):
        for series, thunk in entries:
            series.add(thunk)
            if series.ok():
                s = series.samples[-1]
                log(f"{group} run {r + 1}/{RUNS}: {series.name}: {s.rate:,.0f} msg/s, "
                    f"CPU {s.cpu:.2f} s")
    return [s for s, _ in entries]


def oneshot(broker):
    broker.reset(ONESHOT_QUEUE)
    cmds = {
        "amqpctl pub": [AMQPCTL, "pub", *CONN, "-k", ONESHOT_QUEUE, "-m", "x"],
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
                run(cmd, rss=False)
            except CaseError as e:
                errs[name] = str(e)
    for _ in range(ONESHOT_RUNS):
        for name, cmd in cmds.items():
            if name in errs:
                continue
            t0 = time.perf_counter()
            try:
                run(cmd, rss=False)
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
    """Peak RSS (KiB) and rate of the two million-message runs."""
    res = {}
    seq = os.path.join(TMP, "seq")
    with open(seq, "wb") as f:
        f.write(b"".join(b"%d\n" % i for i in range(1, N_MEM + 1)))
    try:
        with open(seq, "rb") as stdin:
            s = publish_once(broker, [AMQPCTL, "pub", *CONN, "-k", QUEUE, "--lines", "--quiet"],
                             N_MEM, stdin=stdin, timeout=300)
        res["pub"] = (s.rss, s.rate)
        log(f"memory pub --lines: {s.rss / 1024:.1f} MiB, {s.rate:,.0f} msg/s")
    except CaseError as e:
        res["pub"] = str(e)
        errors.append(f"memory pub --lines: {e}")
        log(f"FAILED memory pub --lines: {e}")
    os.unlink(seq)
    try:
        s = consume_once(broker, [AMQPCTL, "con", *CONN, "-q", QUEUE, "--count", str(N_MEM)],
                         N_MEM, os.path.join(TMP, "consumed"))
        res["con"] = (s.rss, s.rate)
        log(f"memory con: {s.rss / 1024:.1f} MiB, {s.rate:,.0f} msg/s")
    except CaseError as e:
        res["con"] = str(e)
        errors.append(f"memory con: {e}")
        log(f"FAILED memory con: {e}")
    broker.reset(QUEUE)
    return res


def large(broker):
    """N_LARGE messages of 1 MiB: amqpctl pub and con against the raw ceiling's publish
    and consume, interleaved, RUNS times."""
    big = os.path.join(TMP, "big.body")
    with open(big, "wb") as f:
        f.write(b"x" * LARGE_SIZE)
    q = "bench.large"
    n = N_LARGE
    pub = Series("amqpctl pub --file (1 MiB)", n)
    ceil_pub = Series("ceiling publish (1 MiB)", n)
    con = Series("amqpctl con, default flags (1 MiB)", n)
    ceil_con = Series("ceiling consume (1 MiB)", n)
    # Not a target: con without the bound in bytes, so with prefetch 1,000 x 1 MiB
    # that the broker may send ahead (what con held before --max-inflight-bytes).
    con_small = Series("amqpctl con --max-inflight-bytes 0", n)
    out = os.path.join(TMP, "consumed")
    throughput("large", [
        (pub, lambda: publish_once(broker, [
            AMQPCTL, "pub", *CONN, "-k", q, "--file", big, "--nb-messages", str(n),
            "--interval", "0", "--quiet"], n, queue=q, timeout=300)),
        (ceil_pub, lambda: publish_once(broker, [
            CEILING, "publish", "127.0.0.1", str(PORT), q, str(n), str(LARGE_SIZE)], n,
            queue=q, timeout=300)),
        (con, lambda: consume_once(broker, [
            AMQPCTL, "con", *CONN, "-q", q, "--count", str(n)],
            n, out, queue=q, size=LARGE_SIZE, lines=False)),
        (ceil_con, lambda: consume_once(broker, [
            CEILING, "consume", "127.0.0.1", str(PORT), q, str(n), str(PREFETCH), "500"],
            n, out, queue=q, size=LARGE_SIZE, lines=False)),
        (con_small, lambda: consume_once(broker, [
            AMQPCTL, "con", *CONN, "-q", q, "--count", str(n), "--max-inflight-bytes", "0"],
            n, out, queue=q, size=LARGE_SIZE, lines=False)),
    ])
    os.unlink(big)
    broker.call(lambda ch: ch.queue_delete(q))
    return pub, ceil_pub, con, ceil_con, con_small


def perf_case(broker, n):
    """`amqpctl perf --producers 1 --consumers 1`: its sent/s and received/s from
    --json, RUNS times. None (with a note) when this amqpctl has no perf command."""
    probe = subprocess.run([AMQPCTL, "perf", "--help"], capture_output=True)
    if probe.returncode != 0:
        return None
    sent, received = [], []
    for r in range(RUNS):
        out_path = os.path.join(TMP, "perf.json")
        try:
            with open(out_path, "wb") as out:
                run([AMQPCTL, "perf", *CONN, "--producers", "1", "--consumers", "1",
                     "--count", str(n), "--size", str(BODY_SIZE), "--json"], stdout=out)
            with open(out_path) as f:
                doc = json.load(f)
            sent.append(float(doc["sent_per_sec"]))
            received.append(float(doc["received_per_sec"]))
            log(f"perf run {r + 1}/{RUNS}: sent {sent[-1]:,.0f}/s, received {received[-1]:,.0f}/s")
        except (CaseError, OSError, ValueError, KeyError, TypeError) as e:
            errors.append(f"perf 1P/1C: {e}")
            log(f"FAILED perf 1P/1C: {e}")
            return "FAILED"
    return statistics.median(sent), statistics.median(received)


# ---------------------------------------------------------------- report


def transfer_once(broker, cmd, n, src, dst):
    """`move`/`redrive` of the n messages `src` holds (preloaded by the caller) into
    `dst`: timed from spawn to exit; then `dst` must hold n and `src` none."""
    t0 = time.perf_counter()
    done = run(cmd)
    t1 = time.perf_counter()
    broker.wait_count(dst, n, timeout=30)
    time.sleep(0.2)
    left = broker.count(src)
    if left != 0:
        raise CaseError(f"{short(cmd)} left {left} messages in {src}")
    return Sample(n / (t1 - t0), done)


def move_once(broker, n, extra=()):
    preload(broker, "xfer-src", n)
    broker.reset("xfer-dst")
    cmd = [AMQPCTL, "move", *CONN, "-q", "xfer-src", "--to-queue", "xfer-dst", *extra]
    return transfer_once(broker, cmd, n, "xfer-src", "xfer-dst")


def dead_letters(broker, n):
    """n dead letters in `xfer-dlq`, from `xfer-work` (x-message-ttl 0, so each
    expires at once); then `xfer-work` is declared again without the TTL, so that
    `redrive` puts them back there and no further."""
    broker.call(lambda ch: ch.queue_delete("xfer-work"))
    broker.reset("xfer-dlq")
    args = {"x-message-ttl": 0, "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": "xfer-dlq"}
    broker.call(lambda ch: ch.queue_declare("xfer-work", arguments=args))
    run([CEILING, "publish", "127.0.0.1", str(PORT), "xfer-work", str(n), str(BODY_SIZE)])
    broker.wait_count("xfer-dlq", n, timeout=300)
    broker.reset("xfer-work")


def back_from_dead_letters(broker, n, cmd):
    """n fresh dead letters in `xfer-dlq`, taken back to `xfer-work` by `cmd`."""
    dead_letters(broker, n)
    return transfer_once(broker, cmd, n, "xfer-dlq", "xfer-work")


def redrive_once(broker, n):
    return back_from_dead_letters(broker, n, [AMQPCTL, "redrive", *CONN, "-q", "xfer-dlq"])


def move_dead_letters_once(broker, n):
    """move of the same n dead letters redrive takes (x-death headers and all) to
    the queue they came from: what redrive costs beyond a move of those messages."""
    cmd = [AMQPCTL, "move", *CONN, "-q", "xfer-dlq", "--to-queue", "xfer-work"]
    return back_from_dead_letters(broker, n, cmd)


def transfers(broker, windows):
    """move of N against its parts (con --count N, pub --confirm of N), redrive of
    N/2 against move of N/2, and with `windows` move of N at each of those windows.
    Returns the rows for the targets and the series for the table."""
    n2 = N // 2
    con_cmd = [AMQPCTL, "con", *CONN, "-q", QUEUE, "--count", str(N)]
    pub_cmd = [AMQPCTL, "pub", *CONN, "-k", QUEUE, "--nb-messages", str(N), "--interval", "0",
               "--quiet", "-m", TEXT, "--confirm"]
    out_path = os.path.join(TMP, "consumed")
    mv = Series("amqpctl move (default window)", N)
    con = Series("amqpctl con --count (default flags)", N)
    conf = Series("amqpctl pub --confirm", N)
    throughput("move", [
        (mv, lambda: move_once(broker, N)),
        (con, lambda: consume_once(broker, con_cmd, N, out_path)),
        (conf, lambda: publish_once(broker, pub_cmd, N)),
    ])
    rd = Series("amqpctl redrive", n2)
    mv2 = Series("amqpctl move", n2)
    mvd = Series("amqpctl move of the same dead letters", n2)
    throughput("redrive", [
        (rd, lambda: redrive_once(broker, n2)),
        (mv2, lambda: move_once(broker, n2)),
        (mvd, lambda: move_dead_letters_once(broker, n2)),
    ])
    sweep = [Series(f"amqpctl move --window {w}", N) for w in windows]
    throughput("window", [
        (s, lambda w=w: move_once(broker, N, ["--window", str(w)])) for s, w in zip(sweep, windows)
    ])
    flt = Series("amqpctl move --filter true (basic.get)", n2)
    throughput("filter", [(flt, lambda: move_once(broker, n2, ["--filter", "true"]))])
    slower = None if None in (con.median(), conf.median()) else min(con.median(), conf.median())
    rows = [
        ("move / slower of con --count, pub --confirm", ratio(mv.median(), slower), "%", 0.80, True),
        ("redrive / move (50,000)" if n2 == 50000 else f"redrive / move ({n2:,})",
         ratio(rd.median(), mv2.median()), "%", 0.90, True),
        ("redrive / move of the same dead letters", ratio(rd.median(), mvd.median()), "%", 0.90, True),
    ]
    return rows, [mv, con, conf, rd, mv2, mvd, *sweep, flt]


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


def node_versions():
    if not NODE:
        return "not measured"
    try:
        pkg = os.path.join(os.environ.get("NODE_PATH", ""), "amqplib", "package.json")
        amqplib = json.load(open(pkg))["version"]
    except (OSError, ValueError, KeyError):
        amqplib = "?"
    return f"node {cmd_version(['node', '--version'])}, amqplib {amqplib}"


def lapin_version():
    if not LAPIN:
        return "not measured"
    lock = os.path.join(HERE, "lapin-peer", "Cargo.lock")
    try:
        text = open(lock).read()
        i = text.index('name = "lapin"')
        return "lapin " + text[i:].split("\n")[1].split('"')[1] + ", tokio current-thread"
    except (OSError, ValueError, IndexError):
        return "lapin ?"


def fmt_rate(x):
    return f"{x:,.0f}" if x is not None else "-"


def fmt_cpu(x):
    return f"{x:.2f}" if x is not None else "-"


def ratio(a, b):
    return a / b if a is not None and b else None


def show(v, kind):
    if v is None:
        return "-"
    if kind == "%":
        return f"{v * 100:.0f} %"
    if kind == "MiB":
        return f"{v:.1f} MiB"
    return f"{v:.2f}x"


def throughput_table(groups, lpub, lcon):
    """The throughput table: each group's series, then the 1 MiB case's MiB/s."""
    print("== throughput (msg/s, median of the runs; each client a process of its own, timed")
    print("   from spawn; a publish ends when the queue holds every message, a consume when")
    print("   the client exits; CPU: the client's user+sys seconds per 100,000 messages)")
    w_name = 34
    print(f"  {'case':<8} {'client':<{w_name}} {'msgs':>8} {'median':>9} {'min':>9} {'max':>9} "
          f"{'CPU/100k':>9} {'RSS MiB':>8}")
    for group, series in groups:
        for s in series:
            if s is None:
                continue
            if not s.ok():
                print(f"  {group:<8} {s.name:<{w_name}} {s.n:>8,} {'FAILED':>9}")
                continue
            rates = [x.rate for x in s.samples]
            print(
                f"  {group:<8} {s.name:<{w_name}} {s.n:>8,} {fmt_rate(s.median()):>9} "
                f"{fmt_rate(min(rates)):>9} {fmt_rate(max(rates)):>9} "
                f"{fmt_cpu(s.cpu_per_100k()):>9} {s.rss_mib():>8.1f}"
            )
    print(f"  (1 MiB: {N_LARGE:,} messages of 1 MiB, consumers' output to /dev/null; {fmt_rate(lpub.median() and lpub.median() * LARGE_SIZE / 2**20)} "
          f"MiB/s for amqpctl pub, {fmt_rate(lcon.median() and lcon.median() * LARGE_SIZE / 2**20)} MiB/s for con)")
    print()


def large_rows(lpub, lceil_pub, lcon, lceil_con):
    """The 1 MiB case's targets: pub and con (default flags) against the ceiling, and
    their peak RSS."""
    med = lambda s: s.median() if s is not None else None
    return [
        ("1 MiB pub / ceiling publish", ratio(med(lpub), med(lceil_pub)), "%", 0.90, True),
        ("1 MiB con / ceiling consume", ratio(med(lcon), med(lceil_con)), "%", 0.90, True),
        ("1 MiB pub peak RSS", lpub.rss_mib(), "MiB", 64.0, False),
        ("1 MiB con peak RSS", lcon.rss_mib(), "MiB", 64.0, False),
    ]


def transfer_table(series):
    print("== move and redrive (msg/s, median of the runs; timed from spawn to exit; the")
    print("   parts: con --count N to stdout, pub --confirm of N; CPU per 100,000 messages,")
    print("   the client's and the node's while the client ran)")
    print(f"  {'client':<42} {'msgs':>8} {'median':>9} {'min':>9} {'max':>9} {'CPU/100k':>9} "
          f"{'node CPU':>9} {'RSS MiB':>8}")
    for s in series:
        if not s.ok():
            print(f"  {s.name:<42} {s.n:>8,} {'FAILED':>9}")
            continue
        rates = [x.rate for x in s.samples]
        secs = s.n / s.median()
        print(f"  {s.name:<42} {s.n:>8,} {fmt_rate(s.median()):>9} {fmt_rate(min(rates)):>9} "
              f"{fmt_rate(max(rates)):>9} {fmt_cpu(s.cpu_per_100k()):>9} "
              f"{fmt_cpu(s.broker_cpu_per_100k()):>9} {s.rss_mib():>8.1f}   ({secs:.2f} s)")
    print()


def report_targets(rows):
    """Prints each target met or missed; returns whether all were met."""
    print("== targets (ratios of medians from this run)")
    met_all = True
    counts = {"met": 0, "missed": 0, "other": 0}
    for label, v, kind, target, higher in rows:
        want = f"{'>=' if higher else '<='} {show(target, kind.split()[-1])}"
        if kind.endswith("MiB"):
            want = f"< {target:.0f} MiB"
        if kind.startswith("skipped"):
            verdict = "skipped (QUICK=1)" if "RSS" in label else "skipped (no amqpctl perf)"
            counts["other"] += 1
        elif v is None:
            verdict, met_all = "not measured", False
            counts["other"] += 1
        elif (v >= target) if higher else (v < target if kind == "MiB" else v <= target):
            verdict = "met"
            counts["met"] += 1
        else:
            met_all = False
            counts["missed"] += 1
            if kind == "%":
                verdict = f"MISSED by {(target - v) * 100:.0f} points"
            elif kind == "MiB":
                verdict = f"MISSED by {v - target:.1f} MiB"
            elif higher:
                verdict = f"MISSED: needs {target / v:.2f}x"
            else:
                verdict = f"MISSED by {(v - target) / target * 100:.0f} %"
        print(f"  {label:<42} {show(v, kind):>10}  (target {want:<9}) {verdict}")
    print(f"  {counts['met']} met, {counts['missed']} missed, {counts['other']} not measured or skipped")
    return met_all


def main():
    t_start = time.perf_counter()
    broker = Broker()
    rmq, erl = broker.server()
    git = cmd_version(["git", "describe", "--always", "--dirty"])
    header = [
        ("CPUs (nproc)", str(os.cpu_count() if not hasattr(os, "sched_getaffinity") else len(os.sched_getaffinity(0)))),
        ("CPU model", cpu_model()),
        ("memory", f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"),
        ("kernel", platform.release()),
        ("load average", " ".join(open("/proc/loadavg").read().split()[:3])),
        ("RabbitMQ", rmq),
        ("Erlang", erl),
        ("rustc", cmd_version(["rustc", "--version"])),
        ("amqpctl", f"{cmd_version([AMQPCTL, '--version'])}, {os.path.relpath(AMQPCTL, os.path.dirname(os.path.dirname(HERE)))} (bench at git {git})"),
        ("pika", f"{pika.__version__} (BlockingConnection), Python {platform.python_version()}"),
        ("amqplib", node_versions()),
        ("lapin", lapin_version()),
        ("amqp-publish", "amqp-tools " + cmd_version(["dpkg-query", "-W", "-f", "${Version}", "amqp-tools"])),
        ("runs", f"{RUNS} per throughput case, {ONESHOT_RUNS} per one-shot client, N = {N:,}"
                 f"{' (QUICK=1)' if QUICK else ''}"),
    ]
    print("== machine", flush=True)
    for k, v in header:
        print(f"  {k:<14} {v}")
    print(flush=True)

    windows = [int(w) for w in os.environ.get("MOVE_WINDOWS", "10 50 100 500 1000").split()]
    if CASES:
        log(f"cases: {' '.join(sorted(CASES))} only")
        rows = []
        if "large" in CASES:
            log(f"large bodies: {N_LARGE:,} x 1 MiB")
            lpub, lceil_pub, lcon, lceil_con, lcon_small = large(broker)
            throughput_table([("1 MiB", [lpub, lceil_pub, lcon, lceil_con, lcon_small])], lpub, lcon)
            rows += large_rows(lpub, lceil_pub, lcon, lceil_con)
        if "transfer" in CASES:
            xfer_rows, xfer = transfers(broker, windows)
            transfer_table(xfer)
            rows += xfer_rows
        met_all = report_targets(rows)
        finish(t_start, met_all)

    body_cmd = [AMQPCTL, "pub", *CONN, "-k", QUEUE, "--nb-messages", str(N), "--interval", "0",
                "--quiet", "-m", TEXT]
    port = str(PORT)
    out_path = os.path.join(TMP, "consumed")
    node = ["node", NODE_SCRIPT] if NODE else None

    # 1. publish, no confirms
    pub = Series("amqpctl pub", N)
    pub_pika = Series("pika", N)
    pub_node = Series("amqplib", N) if node else None
    pub_lapin = Series("lapin", N) if LAPIN else None
    pub_ceil = Series("ceiling (raw frames)", N)
    throughput("publish", [
        (pub, lambda: publish_once(broker, body_cmd, N)),
        (pub_pika, lambda: publish_once(broker, [PY, PIKA_PEER, "publish", port, QUEUE, str(N), TEXT], N)),
        (pub_node, lambda: publish_once(broker, node + ["publish", port, QUEUE, str(N), TEXT], N)),
        (pub_lapin, lambda: publish_once(broker, [LAPIN, "publish", port, QUEUE, str(N), TEXT], N)),
        (pub_ceil, lambda: publish_once(broker, [CEILING, "publish", "127.0.0.1", port, QUEUE, str(N), str(BODY_SIZE)], N)),
    ])

    # 2. publish with confirms
    w = str(WINDOW)
    conf = Series("amqpctl pub --confirm", N)
    conf_pika = Series("pika (waits for each ack)", N_PIKA_CONFIRM)
    conf_node = Series(f"amqplib (window {WINDOW})", N) if node else None
    conf_lapin = Series(f"lapin (window {WINDOW})", N) if LAPIN else None
    conf_ceil = Series("ceiling (raw frames, no window)", N)
    throughput("confirm", [
        (conf, lambda: publish_once(broker, body_cmd + ["--confirm"], N)),
        (conf_pika, lambda: publish_once(
            broker, [PY, PIKA_PEER, "confirm", port, QUEUE, str(N_PIKA_CONFIRM), TEXT], N_PIKA_CONFIRM)),
        (conf_node, lambda: publish_once(broker, node + ["confirm", port, QUEUE, str(N), TEXT, w], N)),
        (conf_lapin, lambda: publish_once(broker, [LAPIN, "confirm", port, QUEUE, str(N), TEXT, w], N)),
        (conf_ceil, lambda: publish_once(broker, [CEILING, "confirm", "127.0.0.1", port, QUEUE, str(N), str(BODY_SIZE)], N)),
    ])

    # 3. consume, manual acks, prefetch 1000
    pf = str(PREFETCH)
    con = Series("amqpctl con", N)
    con_pika = Series("pika", N)
    con_node = Series("amqplib", N) if node else None
    con_lapin = Series("lapin", N) if LAPIN else None
    con_ceil = Series("ceiling (raw frames, no output)", N)
    throughput("consume", [
        (con, lambda: consume_once(broker, [AMQPCTL, "con", *CONN, "-q", QUEUE, "--count", str(N), "--prefetch", pf], N, out_path)),
        (con_pika, lambda: consume_once(broker, [PY, PIKA_PEER, "consume", port, QUEUE, str(N), pf, out_path], N, out_path)),
        (con_node, lambda: consume_once(broker, node + ["consume", port, QUEUE, str(N), pf, out_path], N, out_path)),
        (con_lapin, lambda: consume_once(broker, [LAPIN, "consume", port, QUEUE, str(N), pf, out_path], N, out_path)),
        (con_ceil, lambda: consume_once(broker, [CEILING, "consume", "127.0.0.1", port, QUEUE, str(N), pf, "500"], N, out_path, lines=False)),
    ])

    # 4. large bodies
    log(f"large bodies: {N_LARGE:,} x 1 MiB")
    lpub, lceil_pub, lcon, lceil_con, lcon_small = large(broker)

    # 5. perf 1P/1C
    perf = perf_case(broker, N)
    if perf is None:
        log("amqpctl perf --help failed: this amqpctl has no perf command; perf case skipped")

    # 6. one message, process start to exit
    log(f"one-shot: {ONESHOT_RUNS} runs each")
    shot, shot_errs = oneshot(broker)

    # 7. memory
    mem = None
    if QUICK:
        log("QUICK=1: skipping the million-message memory cases")
    else:
        log(f"memory: {N_MEM:,} messages each way")
        mem = memory(broker)

    # 8. move and redrive
    log("move and redrive")
    xfer_rows, xfer = transfers(broker, windows)

    # ------------------------------------------------------------ tables
    throughput_table([
        ("publish", [pub, pub_pika, pub_node, pub_lapin, pub_ceil]),
        ("confirm", [conf, conf_pika, conf_node, conf_lapin, conf_ceil]),
        ("consume", [con, con_pika, con_node, con_lapin, con_ceil]),
        ("1 MiB", [lpub, lceil_pub, lcon, lceil_con, lcon_small]),
    ], lpub, lcon)

    if perf is None:
        print("== perf --producers 1 --consumers 1: skipped (amqpctl perf --help failed)")
    elif perf == "FAILED":
        print("== perf --producers 1 --consumers 1: FAILED")
    else:
        print(f"== perf --producers 1 --consumers 1 --count {N:,} --size {BODY_SIZE} (medians)")
        # perf's "sent" counts publishes handed to the client library, which
        # buffers up to 16 MiB: for 100-byte bodies, most of a run. Only
        # "received" is end to end, so only it is a target.
        print(f"  sent     {perf[0]:>10,.0f} msg/s   (handed to the client; amqpctl pub alone: {fmt_rate(pub.median())})")
        print(f"  received {perf[1]:>10,.0f} msg/s   (amqpctl con alone: {fmt_rate(con.median())})")
    print()

    print("== one message, process start to exit (ms)")
    w_name = 34
    print(f"  {'client':<{w_name}} {'runs':>8} {'median':>9} {'p90':>9} {'min':>9} {'max':>9}")
    for name, ts in shot.items():
        if name in shot_errs or not ts:
            print(f"  {name:<{w_name}} {len(ts):>8} {'FAILED':>9}")
            continue
        print(
            f"  {name:<{w_name}} {len(ts):>8} {statistics.median(ts):>9.1f} {p90(ts):>9.1f} "
            f"{min(ts):>9.1f} {max(ts):>9.1f}"
        )
    print()

    print(f"== memory (peak RSS of amqpctl, {N_MEM:,} messages)")
    mem_rows = [
        ("pub", f"amqpctl pub -k Q --lines < {N_MEM} lines"),
        ("con", f"amqpctl con -q Q --count {N_MEM} > file"),
    ]
    for key, label in mem_rows:
        v = None if mem is None else mem.get(key)
        if v is None:
            shown = "skipped (QUICK=1)"
        elif isinstance(v, str):
            shown = "FAILED"
        else:
            shown = f"{v[0] / 1024:7.1f} MiB   {v[1]:>10,.0f} msg/s"
        print(f"  {label:<52} {shown}")
    print()

    print("== pub --rate 1000 over 10 s (messages per second achieved; evenly spaced)")
    try:
        achieved = rate_accuracy(broker)
        print(f"  achieved {achieved:,.1f} msg/s: {100 * (achieved / 1000 - 1):+.2f} % of the rate asked")
    except CaseError as e:
        print(f"  FAILED: {e}")
    print()

    # ------------------------------------------------------------ ratios and targets
    shot_med = {k: statistics.median(v) for k, v in shot.items() if v and k not in shot_errs}
    shot_p90 = {k: p90(v) for k, v in shot.items() if v and k not in shot_errs}
    med = lambda s: s.median() if s is not None else None
    cpu = lambda s: s.cpu_per_100k() if s is not None else None
    # (label, value, kind, target, higher_is_better); "%" and "x" are ratios, "MiB" a size.
    rows = [
        ("pub / ceiling publish", ratio(med(pub), med(pub_ceil)), "%", 0.90, True),
        ("pub --confirm / ceiling confirm", ratio(med(conf), med(conf_ceil)), "%", 0.90, True),
        ("con / ceiling consume", ratio(med(con), med(con_ceil)), "%", 0.90, True),
        ("pub / pika", ratio(med(pub), med(pub_pika)), "x", 1.0, True),
        ("pub / amqplib", ratio(med(pub), med(pub_node)), "x", 1.0, True),
        ("pub / lapin", ratio(med(pub), med(pub_lapin)), "x", 1.0, True),
        ("pub --confirm / pika", ratio(med(conf), med(conf_pika)), "x", 1.0, True),
        ("pub --confirm / amqplib", ratio(med(conf), med(conf_node)), "x", 1.0, True),
        ("pub --confirm / lapin", ratio(med(conf), med(conf_lapin)), "x", 1.0, True),
        ("con / pika", ratio(med(con), med(con_pika)), "x", 1.0, True),
        ("con / amqplib", ratio(med(con), med(con_node)), "x", 1.0, True),
        ("con / lapin", ratio(med(con), med(con_lapin)), "x", 1.0, True),
        # CPU per message against the best real client (issue 22 item 5): the
        # raw ceilings encode nothing per message, so they make no target.
        ("CPU/msg pub / lapin", ratio(cpu(pub), cpu(pub_lapin)), "x", 1.0, False),
        ("CPU/msg pub --confirm / lapin", ratio(cpu(conf), cpu(conf_lapin)), "x", 1.0, False),
        ("CPU/msg con / lapin", ratio(cpu(con), cpu(con_lapin)), "x", 1.0, False),
        *large_rows(lpub, lceil_pub, lcon, lceil_con),
        ("one-shot pub / amqp-publish (median)", ratio(shot_med.get("amqpctl pub"), shot_med.get("amqp-publish")), "x", 1.0, False),
        ("one-shot pub / amqp-publish (p90)", ratio(shot_p90.get("amqpctl pub"), shot_p90.get("amqp-publish")), "x", 1.0, False),
    ]
    if isinstance(perf, tuple):
        rows += [
            # End to end, perf is as fast as the slower of its two halves.
            ("perf 1P/1C received / slower of pub, con alone", ratio(perf[1], None if None in (med(pub), med(con)) else min(med(pub), med(con))), "%", 0.90, True),
        ]
    else:
        rows += [("perf 1P/1C / pub and con alone", None, "skipped %" if perf is None else "%", 0.90, True)]
    for key, label in [("pub", "peak RSS, pub --lines 1M"), ("con", "peak RSS, con --count 1M")]:
        v = None if mem is None else mem.get(key)
        if N_MEM != 1000000:
            label = label.replace("1M", f"{N_MEM:,}")
        if v is None:
            rows.append((label, None, "skipped MiB", 30.0, False))
        else:
            rows.append((label, None if isinstance(v, str) else v[0] / 1024, "MiB", 30.0, False))

    transfer_table(xfer)
    met_all = report_targets(rows + xfer_rows)
    finish(t_start, met_all)


def finish(t_start, met_all):
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
