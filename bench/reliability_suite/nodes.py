"""Reliability sections 5 and 7: malformed input per node, future stamps, 10x bursts, and the soak.

Each node (stereo_mono_node, terrain_node, har_node, serial_bridge_node) runs in its own process with
valid traffic at a base rate (its driver, ``<node>_driver.py``, publishes it, or writes frames into a pseudo-terminal for
the serial bridge). For each malformed case the traffic pauses, the case is injected, and the node's
``/diagnostics`` (published every 0.1 s) is read before and after: the case is *counted* when the drop
counters of its topics (or, for wire damage, the bridge's link counters) grew by at least the number of
malformed inputs, with the reasons recorded. Then valid traffic resumes and the node must still be alive
and publish an output for a new input (*responsive*). A node that died is restarted for the next case.

Future stamp (the last case; it used to silence a topic): valid traffic pauses, one input stamped an hour
ahead goes out on every stamped topic, valid traffic resumes at once. ``recovery_s`` is the time from that
input to the first output for a valid input sent after it (end to end); per topic, the time until the
drop counters show a valid input accepted (``diag_recovery_s``, 0.1 s resolution, at least two inputs
after the future one). Counted when it recovered within the timeout and the drop was counted.

Burst: valid traffic at 10x the base rate for a few seconds; every input the node received must be
processed or dropped with a reason (``unaccounted`` = received - dropped - outputs, where each input
has its own output), and the node must answer normally afterwards.

Soak: all four nodes at once with valid traffic and a random malformed case every few seconds; RSS of each
node process sampled every 5 s, growth from minute 1 (a third of the soak when shorter) to the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.reliability_suite.drivers import FUTURE_S, MS, Case, Driver
from bench.reliability_suite.har_driver import har_driver
from bench.reliability_suite.ros import Session, SocketAudit, rss_mb
from bench.reliability_suite.serial_driver import serial_driver
from bench.reliability_suite.stereo_driver import stereo_driver
from bench.reliability_suite.terrain_driver import terrain_driver

DRIVERS: dict[str, Callable[[Session, Path], Driver]] = {
    "stereo_mono_node": stereo_driver,
    "terrain_node": terrain_driver,
    "har_node": har_driver,
    "serial_bridge_node": serial_driver,
}


def _int(values: dict[str, str] | None, key: str) -> int:
    try:
        return int(float((values or {}).get(key, "0")))
    except ValueError:
        return 0


def drops_by_reason(values: dict[str, str] | None, topics: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key in values or {}:
        for topic in topics:
            prefix = f"dropped.{topic}."
            if key.startswith(prefix):
                reason = key[len(prefix) :]
                out[reason] = out.get(reason, 0) + _int(values, key)
    return out


def clock_counters(values: dict[str, str] | None) -> dict[str, int]:
    """Status counters about stamps and clocks (``clock_jump.<topic>``, a bridge's future/stale device
    times, ...): how a node may count a future stamp other than as a drop of the topic."""
    words = ("future", "stale", "jump", "clock_step")
    return {
        k: _int(values, k)
        for k in (values or {})
        if any(w in k for w in words)
        and not k.startswith("dropped.")
        and (values or {})[k].lstrip("-").isdigit()
    }


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


class NodeRunner:
    """Starts a driver's node, waits until it answers, and runs cases against it."""

    def __init__(self, driver: Driver, sockets: SocketAudit, start_timeout: float = 120.0) -> None:
        self.driver, self.session, self.sockets = driver, driver.session, sockets
        self.start_timeout = start_timeout
        self.session.tickers.append(driver.tick)

    def start(self) -> bool:
        d = self.driver
        self.session.diagnostics.pop(d.name, None)  # a previous process's counters must not be read
        started = time.monotonic()
        d.process.start()
        d.paused = False
        ok = self.session.spin_until(lambda: d.ready(started) or not d.process.alive(), self.start_timeout)
        ok = ok and d.process.alive() and d.ready(started)
        self.sockets.sample()
        return ok

    def ensure_running(self) -> bool:
        if self.driver.process.alive():
            return True
        return self.start()

    def _settle(self, seconds: float = 0.4) -> tuple[float, dict[str, str] | None]:
        self.driver.paused = True
        self.session.spin_for(seconds)
        mark = time.monotonic()
        return mark, self.session.fresh_diagnostics(self.driver.name, mark)

    def _responsive(self, timeout: float = 8.0) -> bool:
        d = self.driver
        d.paused = False
        resumed, resumed_ns = time.monotonic(), time.time_ns()
        return self.session.spin_until(
            lambda: d.output_after(resumed_ns - 200 * MS, resumed) is not None, timeout
        )

    def run_case(self, case: Case) -> dict[str, Any]:
        d, name = self.driver, self.driver.name
        _, before = self._settle()
        if before is None:  # the node is silent: nothing can be counted against it
            return {
                "counted": False,
                "expected_drops": case.expected,
                "reasons": {},
                "alive": d.process.alive(),
                "responsive": False,
                "note": "no /diagnostics from the node before the case; case not run",
            }
        drops_before = drops_by_reason(before, case.topics)
        injected = time.monotonic()
        case.inject()

        def counted() -> bool:
            stamp, values = self.session.diagnostics.get(name, (0.0, {}))
            if stamp <= injected:
                return False
            drops = sum(_delta(drops_before, drops_by_reason(values, case.topics)).values())
            link = sum(_int(values, c) - _int(before, c) for c in case.counters)
            return drops + link >= case.expected

        is_counted = self.session.spin_until(lambda: counted() or not d.process.alive(), 3.0) and counted()
        after = self.session.diagnostics.get(name, (0.0, {}))[1]
        result: dict[str, Any] = {
            "counted": is_counted,
            "expected_drops": case.expected,
            "reasons": _delta(drops_before, drops_by_reason(after, case.topics)),
        }
        if case.counters:
            result["link_counters"] = {c: _int(after, c) - _int(before, c) for c in case.counters}
        result["responsive"] = d.process.alive() and self._responsive()
        result["alive"] = d.process.alive()
        return result

    def run_burst(self, seconds: float, factor: float = 10.0) -> dict[str, Any]:
        d, name = self.driver, self.driver.name
        topics = d.stamped_topics
        _, before = self._settle()
        if before is None:
            return {"counted": False, "alive": d.process.alive(), "note": "no /diagnostics from the node"}
        sent_before = dict(d.sent)
        started = time.monotonic()
        d.rate, d.paused = factor, False
        self.session.spin_for(seconds)
        d.paused, d.rate = True, 1.0
        # drain: until the node's counters stop moving for 1 s (at most 15 s)
        last: tuple[Any, ...] = ()
        stable_since = time.monotonic()
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline and d.process.alive():
            self.session.spin_for(0.2)
            values = self.session.diagnostics.get(name, (0.0, {}))[1]
            state = tuple(_int(values, f"received.{t}") for t in topics) + (
                d.outputs_since(started),
                _int(values, "dropped_total"),
            )
            if state != last:
                last, stable_since = state, time.monotonic()
            elif time.monotonic() - stable_since > 1.0:
                break
        after = self.session.diagnostics.get(name, (0.0, {}))[1]
        per_topic = {}
        for topic in topics:
            sent = d.sent.get(topic, 0) - sent_before.get(topic, 0)
            received = _int(after, f"received.{topic}") - _int(before, f"received.{topic}")
            dropped = _delta(drops_by_reason(before, [topic]), drops_by_reason(after, [topic]))
            row: dict[str, Any] = {
                "sent": sent,
                "sent_rate_hz": round(sent / seconds, 1),
                "received": received,
                "dropped": dropped,
                "lost_before_node": sent - received,
            }
            if topic == d.per_input_output:
                if name == "serial_bridge_node":  # one output per sample; the node counts what it published
                    outputs = _int(after, "published.wrist") - _int(before, "published.wrist")
                else:
                    outputs = d.outputs_since(started)
                row["outputs"] = outputs
                row["unaccounted"] = received - sum(dropped.values()) - outputs
            per_topic[topic] = row
        tolerance = (
            2 if name == "stereo_mono_node" else 0
        )  # a pair whose partner was lost waits in the pairer
        unaccounted = [abs(r["unaccounted"]) for r in per_topic.values() if "unaccounted" in r]
        alive = d.process.alive()
        responsive = alive and self._responsive()
        return {
            "factor": factor,
            "seconds": seconds,
            "topics": per_topic,
            "alive": alive,
            "responsive": responsive,
            "counted": alive and responsive and all(u <= tolerance for u in unaccounted),
        }

    def run_future(self, timeout: float) -> dict[str, Any]:
        d, name = self.driver, self.driver.name
        topics = d.stamped_topics
        _, before = self._settle(0.6)
        if before is None:
            return {
                "counted": False,
                "recovery_s": None,
                "alive": d.process.alive(),
                "note": "no /diagnostics from the node",
            }
        t0, t0_ns = time.monotonic(), time.time_ns()
        d.future(t0_ns + int(FUTURE_S * 1e9))
        d.paused = False
        diag_recovered: dict[str, float] = {}
        output_recovered: list[float] = []

        def check() -> bool:
            if not output_recovered:
                got = d.output_after(t0_ns - 200 * MS, t0)
                if got is not None:
                    output_recovered.append(got - t0)
            stamp, values = self.session.diagnostics.get(name, (0.0, {}))
            if stamp > t0:
                for topic in topics:
                    if topic in diag_recovered:
                        continue
                    received = _int(values, f"received.{topic}") - _int(before, f"received.{topic}")
                    dropped = sum(
                        _delta(drops_by_reason(before, [topic]), drops_by_reason(values, [topic])).values()
                    )
                    if received - dropped >= 2:
                        diag_recovered[topic] = stamp - t0
            return bool(output_recovered) and len(diag_recovered) == len(topics)

        self.session.spin_until(lambda: check() or not d.process.alive(), timeout)
        after = self.session.diagnostics.get(name, (0.0, {}))[1]
        reasons = _delta(drops_by_reason(before, topics), drops_by_reason(after, topics))
        clock = _delta(clock_counters(before), clock_counters(after))
        recovery = round(output_recovered[0], 3) if output_recovered else None
        return {
            "future_s": FUTURE_S,
            "timeout_s": timeout,
            "recovery_s": recovery,
            "diag_recovery_s": {
                t: round(diag_recovered[t], 2) if t in diag_recovered else None for t in topics
            },
            "reasons": reasons,
            "clock_counters": clock,
            "alive": d.process.alive(),
            "counted": recovery is not None and sum(reasons.values()) + sum(clock.values()) >= 1,
        }


def run_node(
    name: str, session: Session, log_dir: Path, sockets: SocketAudit, recovery_timeout: float, burst_s: float
) -> dict[str, Any]:
    """Every malformed case, a burst and a future stamp against one node."""
    driver = DRIVERS[name](session, log_dir)
    runner = NodeRunner(driver, sockets)
    result: dict[str, Any] = {"cases": {}, "deaths": 0}
    try:
        if not runner.start():
            return {"error": f"{name} did not start or never published; log: {driver.process.log_tail()}"}
        for case in driver.cases():
            if not runner.ensure_running():
                result["cases"][case.name] = {"counted": False, "note": "node could not be restarted"}
                continue
            row = runner.run_case(case)
            if not row["alive"]:
                result["deaths"] += 1
                row["log_tail"] = driver.process.log_tail(4)
            result["cases"][case.name] = row
        if runner.ensure_running():
            result["burst_10x"] = runner.run_burst(burst_s)
        sockets.sample()
        if runner.ensure_running():
            result["future_stamp"] = runner.run_future(recovery_timeout)
        result["deaths"] += sum(
            1 for key in ("burst_10x", "future_stamp") if not result.get(key, {}).get("alive", True)
        )
    finally:
        driver.paused = True
        session.tickers.remove(driver.tick)
        result["exit_status"] = driver.process.stop()
        result["starts"] = driver.process.starts
        driver.close()
    return result


def run_soak(
    session: Session,
    log_dir: Path,
    sockets: SocketAudit,
    seconds: float,
    names: list[str],
    inject_every_s: float = 5.0,
    seed: int = 0,
) -> dict[str, Any]:
    """All nodes at once, valid traffic plus a random malformed case every ``inject_every_s``."""
    rng = np.random.default_rng(seed)
    soak_dir = log_dir / "soak"
    soak_dir.mkdir(parents=True, exist_ok=True)
    drivers = [DRIVERS[name](session, soak_dir) for name in names]
    runners = [NodeRunner(d, sockets) for d in drivers]
    result: dict[str, Any] = {"seconds": seconds, "nodes": {}}
    try:
        for runner in runners:
            if not runner.start():
                result["nodes"][runner.driver.name] = {
                    "error": f"did not start: {runner.driver.process.log_tail()}"
                }
        cases = [(d, c) for d in drivers for c in d.cases()]
        baseline_at = min(60.0, seconds / 3.0)
        rss: dict[str, list[tuple[float, float]]] = {d.name: [] for d in drivers}
        outputs_before = {d.name: len(session.outputs.get(d.output_topic, [])) for d in drivers}
        started = time.monotonic()
        next_inject = next_sample = next_sockets = started
        injected = 0
        deaths: dict[str, int] = {d.name: 0 for d in drivers}
        while (now := time.monotonic()) - started < seconds:
            if now >= next_inject and cases:
                driver, case = cases[int(rng.integers(0, len(cases)))]
                if driver.process.alive():
                    case.inject()
                    injected += 1
                next_inject = now + inject_every_s
            if now >= next_sample:
                for d in drivers:
                    value = rss_mb(d.process.pid) if d.process.alive() and d.process.pid else None
                    if value is not None:
                        rss[d.name].append((now - started, value))
                    elif d.process.starts:
                        deaths[d.name] += 1
                        d.process.start()  # keep the others' load realistic; its RSS series restarts
                        rss[d.name].clear()
                next_sample = now + 5.0
            if now >= next_sockets:
                sockets.sample()
                next_sockets = now + 30.0
            session.spin_for(0.05)
        for d in drivers:
            series = rss[d.name]
            base = next((v for t, v in series if t >= baseline_at), None) if series else None
            end = series[-1][1] if series else None
            result["nodes"][d.name] = {
                "rss_baseline_mb": None if base is None else round(base, 1),
                "rss_end_mb": None if end is None else round(end, 1),
                "rss_growth_mb": None if base is None or end is None else round(end - base, 1),
                "deaths": deaths[d.name],
                "alive_at_end": d.process.alive(),
                "outputs": len(session.outputs.get(d.output_topic, [])) - outputs_before[d.name],
                "drops": drops_by_reason(
                    session.diagnostics.get(d.name, (0.0, {}))[1], d.stamped_topics + [d.per_input_output]
                ),
            }
        result["malformed_injected"] = injected
        result["baseline_at_s"] = round(baseline_at, 1)
    finally:
        for d in drivers:
            d.paused = True
            if d.tick in session.tickers:
                session.tickers.remove(d.tick)
        for d in drivers:
            result["nodes"].setdefault(d.name, {})["exit_status"] = d.process.stop()
            d.close()
    growths = [n.get("rss_growth_mb") for n in result["nodes"].values()]
    result["rss_growth_mb_max"] = max((g for g in growths if g is not None), default=None)
    return result
