"""Filters of the kernel_leap role: they turn what the tasks registered on each
host (kernel-leap's JSON, the runs listed by files/runs.py, the fetched
report.json files) into one entry per host, and the entries into the fleet
report and its table. Pure Python on the controller, no Ansible imports, so
test/integration/ansible-role.test.ts can call them directly.
"""
import json
import os
import re

# A host's outcome when its runs disagree: the worst one wins.
SEVERITY = ["failed", "dump-failed", "aborted", "no-go", "error", "unknown", "restored"]
# A host's outcome is one of these, or a run's: restored, failed, dump-failed, aborted, no-go.
#   current      already on the target kernel: nothing to do
#   not-reached  go, but the rollout stopped before its batch
#   unreachable  did not answer after its upgrade
#   unknown      a run had no final outcome when kernel_leap_outcome_timeout ran out
#   error        anything else; see reasons


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


def _first(items, default=None):
    return items[0] if items else default


def _errors(reg):
    """What a failed kernel-leap command said: its JSON error lines, else its stderr's last lines."""
    errors = _json_lines(reg.get("stdout"), "error")
    if errors:
        return [f"{e.get('code')}: {e.get('message')}" for e in errors]
    text = (reg.get("stderr") or reg.get("msg") or "").strip().splitlines()
    return [line for line in text if line.strip()][-5:] or [f"exit {reg.get('rc')}"]


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


def preflight(regs, target, host):
    """
    regs: check, kernel (uname -r), plan, rehearse (registered results; plan and
    rehearse may be skipped), runs (files/runs.py's JSON after the rehearsal).
    Returns the host's entry: verdict go, no-go or current, with the reasons.
    """
    check = regs.get("check") or {}
    kernel = (regs.get("kernel") or "").strip()
    entry = {"host": host, "target": target, "kernelBefore": kernel, "reasons": [], "rehearsalRuns": []}
    check_result = _first(_json_lines(check.get("stdout")))
    if check_result is None:
        return {**entry, "verdict": "no-go", "outcome": "no-go", "stage": "check", "reasons": _errors(check)}
    entry["check"] = check_result.get("verdict")
    if check_result.get("verdict") == "fail":
        fails = [f"{f.get('item')}: {f.get('detail')}" + (f" ({f['hint']})" if f.get("hint") else "") for f in check_result.get("findings", []) if f.get("level") == "fail"]
        return {**entry, "verdict": "no-go", "outcome": "no-go", "stage": "check", "reasons": fails}
    if kernel == target:
        return {**entry, "verdict": "current", "outcome": "current", "stage": "check", "reasons": [f"already on {target}"]}
    plan = regs.get("plan") or {}
    plan_result = _first(_json_lines(plan.get("stdout")))
    if plan.get("rc") != 0:
        reasons = _plan_reasons(plan_result) if plan_result else []
        return {**entry, "verdict": "no-go", "outcome": "no-go", "stage": "plan", "reasons": reasons or _errors(plan)}
    entry["sessionRoots"] = [(s.get("root") or {}).get("cmdline") for s in (plan_result or {}).get("sessions", [])]
    rehearse = regs.get("rehearse") or {}
    runs = _parse_runs(regs.get("runs")).get("runs", [])
    entry["rehearsalRuns"] = [r["runId"] for r in runs]
    if rehearse.get("rc") != 0:
        reasons = [reason for r in runs for reason in (r.get("rehearsal") or {}).get("reasons", [])]
        reasons = [_condense(reason) for reason in reasons + [e for r in runs for e in r.get("errors", [])]]
        return {**entry, "verdict": "no-go", "outcome": "no-go", "stage": "rehearse", "reasons": reasons or _errors(rehearse)}
    return {**entry, "verdict": "go", "outcome": "pending", "stage": "rehearse"}


CRIU_LOG_ERROR = re.compile(r"Error \([^)]*\): (.+)")
LOG_PATH = re.compile(r"^(.*?) \(log: ([^)]*)\):?$")


def _condense(error):
    """A criu failure's message with its log's tail, as one line: the first error
    criu logged first, so a table's narrow column still shows the cause."""
    lines = error.splitlines()
    if len(lines) < 2:
        return error
    causes = [m.group(1).strip() for m in map(CRIU_LOG_ERROR.search, lines[1:]) if m]
    head = LOG_PATH.match(lines[0].strip())
    what, log = (head.group(1), head.group(2)) if head else (lines[0].rstrip(":"), None)
    return "; ".join(filter(None, [f"{what}: {causes[0]}" if causes else what, f"log: {log}" if log else None]))


def _parse_runs(value):
    if isinstance(value, dict):
        return value
    try:
        return json.loads(value or "{}")
    except ValueError:
        return {}


def _read_report(reports_dir, run_id):
    path = os.path.join(reports_dir, run_id, "report.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f), path
    except (OSError, ValueError):
        return None, None


def _s3_location(run, report, s3):
    upload = run.get("upload") or {}
    if upload.get("status") == "done" and upload.get("prefix"):
        return f"s3://{upload.get('bucket')}/{upload['prefix']}/", True
    if upload.get("skipped") or not s3.get("bucket"):
        return None, False
    # Not (yet) uploaded: where kernel-leap upload-logs will put it.
    host = (report or {}).get("host") or run.get("host")
    return f"s3://{s3['bucket']}/{s3.get('prefix') or 'kernel-leap'}/{host}/{run['runId']}/", False


def _describe_loss(loss):
    if loss.get("kind") == "ssh-session":
        return f"{loss.get('user')}'s ssh session on {loss.get('tty')}: pid {loss.get('pid')} ({loss.get('cmdline')})"
    if loss.get("kind") == "not-a-session":
        # A title any user can write: no session, whatever it reads (kernel-leap's docs/trust.md).
        return f"pid {loss.get('pid')} of {loss.get('user')}'s, titled as an ssh session, which it is not ({loss.get('cmdline')})"
    return f"pid {loss.get('pid')} of {loss.get('user')}'s session ({loss.get('cmdline')})"


def _ended_before_dump(run):
    """A session of --all-ssh that logged out before its dump, or under it (its dump failed on the vanished session): nothing was lost."""
    return run.get("outcome") == "aborted" and not run.get("latest") and (run.get("phases") or {}).get("dump") in (None, "pending", "failed")


def upgraded(entry, upgrade, runs_json, reports_dir, s3, kernel_now, answered=True):
    """
    The host's entry after its upgrade. upgrade: the registered upgrade task (or
    {} when it did not return); runs_json: files/runs.py's output for the runs
    this upgrade made; reports_dir: where their report.json files were fetched.
    """
    s3 = s3 or {}
    listing = _parse_runs(runs_json)
    runs = listing.get("runs", [])
    returned = bool(upgrade) and not upgrade.get("unreachable") and not upgrade.get("failed")
    out = {**entry, "kernelAfter": (kernel_now or "").strip() or None, "stage": "upgrade"}
    out["ansibleConnection"] = (
        "carried" if returned and upgrade.get("rc") == 0 else
        "returned" if returned else
        "lost (reconnected)" if upgrade else "unknown"
    )
    if upgrade.get("rc") is not None:
        out["upgradeExit"] = upgrade.get("rc")
        # The launcher prints the report's first line once the run is final: after
        # the kexec, this is the restored session speaking.
        said = [line for line in (upgrade.get("stdout") or "").splitlines() if re.match(r"^run \S+ on \S+: \S+$", line)]
        if said:
            out["upgradeSaid"] = said[-1]
    if not answered:
        return {**out, "outcome": "unreachable", "reasons": ["the host did not answer within kernel_leap_boot_timeout after the upgrade"]}
    if not runs:
        reasons = _errors(upgrade) if upgrade else ["the upgrade left no run"]
        return {**out, "outcome": "no-go" if upgrade.get("rc") == 3 else "error", "reasons": reasons}
    sessions = []
    for run in runs:
        report, path = _read_report(reports_dir, run["runId"])
        location, uploaded = _s3_location(run, report, s3)
        ptys = run.get("ptys") or []
        sessions.append({
            "runId": run["runId"],
            "session": ", ".join(f"pts/{p}" for p in ptys) or "no tty",
            "ansible": bool(run.get("latest")),
            "outcome": (report or {}).get("outcome") or run.get("outcome") or "unknown",
            "final": bool(run.get("final")),
            "downtimeMs": (report or {}).get("downtimeMs"),
            "remapped": (report or {}).get("remapped", []),
            "leftBehind": run.get("leftBehind") or [],
            "oldKernel": (report or {}).get("oldKernel"),
            "newKernel": (report or {}).get("newKernel"),
            "s3": location,
            "uploaded": uploaded,
            "report": path,
            "errors": run.get("errors", []),
            "endedBeforeDump": _ended_before_dump(run),
        })
    counted = [s for s in sessions if not s["endedBeforeDump"]]
    outcomes = [s["outcome"] if s["final"] else "unknown" for s in counted] or ["aborted"]
    outcome = min(outcomes, key=lambda o: SEVERITY.index(o) if o in SEVERITY else 0)
    primary = next((s for s in sessions if s["ansible"]), sessions[-1])
    downtimes = [s["downtimeMs"] for s in counted if s["outcome"] == "restored" and s["downtimeMs"] is not None]
    # Sessions lost: carried ones whose restore failed, and other ssh sessions the leap did not
    # carry (kernel-leap's leftBehind; the same list in every run of the upgrade).
    left = list({(loss.get("kind"), loss.get("pid")): loss for s in sessions for loss in s["leftBehind"]}.values())
    lost = [f"{s['session']} (run {s['runId']}: {s['outcome']})" for s in counted if s["outcome"] != "restored" and s["final"]]
    lost += [_describe_loss(loss) for loss in left if loss.get("kind") == "ssh-session"]
    processes = [_describe_loss(loss) for loss in left if loss.get("kind") != "ssh-session"]
    reasons = [] if outcome == "restored" else [e for s in counted for e in s["errors"]] or ([f"running {out['kernelAfter']}, not {entry.get('target')}"] if out["kernelAfter"] != entry.get("target") else [])
    if outcome == "restored" and out["kernelAfter"] != entry.get("target"):
        outcome, reasons = "error", [f"the runs say restored, but the host runs {out['kernelAfter']}, not {entry.get('target')}"]
    return {
        **out,
        "outcome": outcome,
        "reasons": reasons,
        "oldKernel": primary["oldKernel"] or entry.get("kernelBefore"),
        "newKernel": primary["newKernel"],
        "downtimeMs": max(downtimes) if downtimes else None,
        "sessions": {
            "carried": sum(1 for s in counted if s["outcome"] == "restored"),
            "remapped": [r for s in counted for r in s["remapped"]],
            "lost": lost,
            "endedBeforeDump": [s["runId"] for s in sessions if s["endedBeforeDump"]],
        },
        # Processes of a carried login session outside its tree (a tmux server, a nohup job).
        "processesLeftBehind": processes,
        "runId": primary["runId"],
        "s3": primary["s3"],
        "runs": sessions,
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
            "kernel_leap_preflight": preflight,
            "kernel_leap_upgraded": upgraded,
            "kernel_leap_fleet": fleet,
            "kernel_leap_table": table,
        }
