"""Filters of the kernel_leap role: each host's entry, put together from what
kernel-leap printed with --json (`check`, `plan`, and `runs --since`, which says
how the runs of a rehearsal or an upgrade ended, what they carried and lost,
and where their logs are), then the fleet report and its table. Nothing here
reads a run's files or derives an outcome: kernel-leap does, on the host. Pure
Python on the controller, no Ansible imports, so
test/integration/ansible-role.test.ts can call them directly.
"""
import json
import os
import re

# A host's outcome is that of its runs (`runs --since`: restored, failed, interrupted,
# dump-failed, aborted, no-go, or `in progress` when a run had none by the end of
# kernel_leap_outcome_timeout), or one of these:
#   current        already on the target kernel: nothing to do
#   not-reached    go, but the rollout stopped before its batch
#   unreachable    did not answer after its upgrade
#   would-install  --check on a host without kernel-leap: nothing to check yet
#   would-upgrade  --check: check and plan say go (no rehearsal, no upgrade under --check)
#   error          anything else; see reasons


def abspath(path):
    """A path relative to where ansible-playbook runs (its cwd), made absolute."""
    return os.path.abspath(os.path.expanduser(str(path)))


def _json_lines(text, kind="result"):
    """The objects of `kernel-leap --json` output whose type is `kind`."""
    out = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if obj.get("type") == kind:
            out.append(obj)
    return out


def result(text):
    """The result line of kernel-leap --json output ({} without one)."""
    found = _json_lines(text)
    return found[0] if found else {}


def _result(reg):
    """The result line of a registered kernel-leap --json command, or None."""
    return result((reg or {}).get("stdout")) or None


def _errors(reg):
    """What a failed kernel-leap command said: its JSON error lines, else its stderr's last lines."""
    errors = _json_lines(reg.get("stdout"), "error")
    if errors:
        return [f"{e.get('code')}: {e.get('message')}" for e in errors]
    text = (reg.get("stderr") or reg.get("msg") or "").strip().splitlines()
    return [line for line in text if line.strip()][-5:] or [f"exit {reg.get('rc')}"]


def _not_installed(reg):
    """The command module's answer when /usr/bin/kernel-leap does not exist."""
    return "No such file or directory" in (reg.get("msg") or "")


def _plan_reasons(plan_result):
    reasons = []
    for session in plan_result.get("sessions", []):
        root = session.get("root") or {}
        for risk in session.get("risks", []):
            if risk.get("level") == "fail":
                reasons.append(f"{root.get('cmdline', 'session')} ({root.get('pid', '?')}): {risk.get('code')}: {risk.get('message')}")
    if plan_result.get("lossRefused"):
        for loss in plan_result.get("leftBehind", []):
            if loss.get("level") == "fail":
                reasons.append(f"would be lost: {loss.get('user')}'s ssh session on {loss.get('tty')} (pid {loss.get('pid')})")
    return reasons


def preflight(regs, target, host, check_mode=False):
    """
    regs: check, kernel (uname -r), plan, rehearse (registered results; plan and
    rehearse may be skipped), runs (`kernel-leap --json runs --since` after the
    rehearsal). Returns the host's entry: verdict go, no-go or current, with the
    reasons; under --check, the rehearsal does not run.
    """
    check = regs.get("check") or {}
    kernel = (regs.get("kernel") or "").strip()
    entry = {"host": host, "target": target, "kernelBefore": kernel, "reasons": [], "rehearsalRuns": []}
    check_result = _result(check)
    if check_result is None and check_mode and _not_installed(check):
        return {**entry, "verdict": "unknown", "outcome": "would-install", "stage": "install",
                "reasons": ["kernel-leap is not installed yet: the play would install it, then check, plan and rehearse"]}
    if check_result is None:
        return {**entry, "verdict": "no-go", "outcome": "no-go", "stage": "check", "reasons": _errors(check)}
    entry["check"] = check_result.get("verdict")
    if check_result.get("verdict") == "fail":
        fails = [f"{f.get('item')}: {f.get('detail')}" + (f" ({f['hint']})" if f.get("hint") else "") for f in check_result.get("findings", []) if f.get("level") == "fail"]
        return {**entry, "verdict": "no-go", "outcome": "no-go", "stage": "check", "reasons": fails}
    if kernel == target:
        return {**entry, "verdict": "current", "outcome": "current", "stage": "check", "reasons": [f"already on {target}"]}
    plan = regs.get("plan") or {}
    plan_result = _result(plan)
    if plan.get("rc") != 0:
        reasons = _plan_reasons(plan_result) if plan_result else []
        return {**entry, "verdict": "no-go", "outcome": "no-go", "stage": "plan", "reasons": reasons or _errors(plan)}
    entry["sessionRoots"] = [(s.get("root") or {}).get("cmdline") for s in (plan_result or {}).get("sessions", [])]
    if check_mode:
        return {**entry, "verdict": "go", "outcome": "would-upgrade", "stage": "plan",
                "reasons": ["check and plan say go; under --check nothing is rehearsed or upgraded"]}
    rehearse = regs.get("rehearse") or {}
    runs = _result(regs.get("runs")) or {}
    entry["rehearsalRuns"] = [r["runId"] for r in runs.get("runs", [])]
    if rehearse.get("rc") != 0 or runs.get("outcome") not in (None, "rehearsed"):
        return {**entry, "verdict": "no-go", "outcome": "no-go", "stage": "rehearse", "reasons": runs.get("reasons") or _errors(rehearse)}
    return {**entry, "verdict": "go", "outcome": "pending", "stage": "rehearse"}


def _connection(upgrade):
    """What became of Ansible's own session, which the upgrade task ran in."""
    returned = bool(upgrade) and not upgrade.get("unreachable") and not upgrade.get("failed")
    if returned:
        return "carried" if upgrade.get("rc") == 0 else "returned"
    return "lost (reconnected)" if upgrade else "unknown"


def _fetched(reports_dir, run_id):
    path = os.path.join(reports_dir, run_id, "report.json")
    return path if os.path.exists(path) else None


def upgraded(entry, upgrade, runs, reports_dir, answered=True):
    """
    The host's entry after its upgrade. upgrade: the registered upgrade task (or
    {} when it did not return); runs: the registered `kernel-leap --json runs
    --since STAMP --wait S` of this upgrade; reports_dir: where each run's
    report.json was fetched.
    """
    out = {**entry, "stage": "upgrade", "ansibleConnection": _connection(upgrade)}
    if upgrade.get("rc") is not None:
        out["upgradeExit"] = upgrade.get("rc")
        # The launcher prints the report's first line once the run is final: after
        # the kexec, this is the restored session speaking.
        said = [line for line in (upgrade.get("stdout") or "").splitlines() if re.match(r"^run \S+ on \S+: \S+$", line)]
        if said:
            out["upgradeSaid"] = said[-1]
    if not answered:
        return {**out, "outcome": "unreachable", "reasons": ["the host did not answer within kernel_leap_boot_timeout after the upgrade"]}
    result = _result(runs)
    if result is None:
        return {**out, "outcome": "error", "reasons": _errors(runs or {})}
    out["kernelAfter"] = result.get("kernel")
    if not result.get("runs"):
        reasons = _errors(upgrade) if upgrade else ["the upgrade left no run"]
        return {**out, "outcome": "no-go" if upgrade.get("rc") == 3 else "error", "reasons": reasons}
    outcome, reasons = result.get("outcome"), result.get("reasons", [])
    if not result.get("done"):
        reasons = reasons + ["a run had not settled when kernel_leap_outcome_timeout ran out"]
    if outcome == "restored" and out["kernelAfter"] != entry.get("target"):
        outcome, reasons = "error", [f"the runs say restored, but the host runs {out['kernelAfter']}, not {entry.get('target')}"]
    own = next((r for r in result["runs"] if r.get("caller")), result["runs"][-1])
    return {
        **out,
        "outcome": outcome,
        "reasons": reasons,
        "oldKernel": own.get("oldKernel") or entry.get("kernelBefore"),
        "newKernel": own.get("newKernel"),
        "downtimeMs": result.get("downtimeMs"),
        "sessions": {
            "carried": result.get("carried", 0),
            "remapped": result.get("remapped", []),
            "lost": result.get("lost", []),
            "endedBeforeDump": result.get("endedBeforeDump", []),
        },
        # Processes of a carried login session outside its tree (a tmux server, a nohup job).
        "processesLeftBehind": result.get("processesLeftBehind", []),
        "runId": own["runId"],
        "s3": own.get("s3"),
        # Each run as kernel-leap gave it; `report` is where the play fetched its report.json.
        "runs": [{**r, "report": _fetched(reports_dir, r["runId"])} for r in result["runs"]],
    }


def fleet(entries, hosts, target, extra=None):
    """The fleet report: every host the play started with, in inventory order."""
    by_host = {}
    for host, entry in zip(hosts, entries):
        entry = dict(entry or {})
        if not entry:
            entry = {"host": host, "outcome": "error", "reasons": ["no result: the host failed or was unreachable before its check (see the play's output)"]}
        elif entry.get("outcome") == "pending":
            entry["outcome"] = "not-reached"
            entry["reasons"] = ["the rollout stopped before this host's batch"]
        by_host[host] = entry
    counts = {}
    for entry in by_host.values():
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    return {"target": target, **(extra or {}), "summary": counts, "hosts": by_host}


def _duration(ms):
    if ms is None:
        return "-"
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{round(ms)} ms"


def table(report):
    """A short fixed-width table, one line per host."""
    rows = []
    for host, e in report.get("hosts", {}).items():
        sessions = e.get("sessions") or {}
        kernels = f"{e.get('oldKernel') or e.get('kernelBefore') or '?'} -> {e.get('newKernel') or e.get('target') or '?'}" if e.get("stage") == "upgrade" else (e.get("kernelBefore") or "?")
        carried = f"{sessions.get('carried', 0)}/{len(sessions.get('remapped', []))}/{len(sessions.get('lost', []))}" if sessions else "-"
        note = e.get("runId") or "; ".join(e.get("reasons", []))[:100]
        rows.append([host, e.get("outcome", "?"), kernels, _duration(e.get("downtimeMs")), carried, note])
    headers = ["host", "outcome", "kernel", "downtime", "carried/remapped/lost", "run (or why)"]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


class FilterModule:
    def filters(self):
        return {
            "kernel_leap_abspath": abspath,
            "kernel_leap_result": result,
            "kernel_leap_preflight": preflight,
            "kernel_leap_upgraded": upgraded,
            "kernel_leap_fleet": fleet,
            "kernel_leap_table": table,
        }
