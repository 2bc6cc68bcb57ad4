#!/usr/bin/env python3
"""What kernel-leap's runs on this host say, as one JSON object on stdout.

    runs.py STATE_DIR SINCE [--allow-none]

Lists the runs whose id (a UTC stamp, YYYYmmddTHHMMSSZ-xxxx) sorts at or after
SINCE, each with its outcome, whether report.json is written, its upload, the
ptys of its session, what the kexec ends that it does not carry (leftBehind) and
whether it is `latest` (the session that ran the command). `done` is true once every listed run is final: an outcome other than
`dumped`, report.json written and the upload no longer pending or running.
With no run listed, `done` is the value of --allow-none. The role runs it with
the `script` module (copied over each time, nothing is installed).
"""
import json
import os
import sys

FINAL = {"restored", "failed", "dump-failed", "aborted", "no-go", "rehearsed"}


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def describe(state_dir, run_id, latest):
    run_dir = os.path.join(state_dir, "runs", run_id)
    journal = json.loads(read(os.path.join(run_dir, "journal.json")) or "{}")
    phases = journal.get("phases", {})
    plan = phases.get("plan", {}).get("outputs") or {}
    rehearse = phases.get("rehearse", {})
    upload = phases.get("upload", {})
    outcome = (read(os.path.join(run_dir, "outcome")) or "").strip() or None
    has_report = os.path.exists(os.path.join(run_dir, "report.json"))
    upload_status = upload.get("status", "pending")
    final = outcome in FINAL and has_report and upload_status not in ("pending", "running")
    return {
        "runId": run_id,
        "command": journal.get("command"),
        "host": journal.get("host"),
        "outcome": outcome,
        "final": final,
        "latest": run_id == latest,
        "rootPid": plan.get("rootPid"),
        "ptys": plan.get("ptys", []),
        "leftBehind": plan.get("leftBehind", []),
        "phases": {name: p.get("status") for name, p in phases.items() if isinstance(p, dict)},
        "rehearsal": {"verdict": (rehearse.get("outputs") or {}).get("verdict"), "reasons": (rehearse.get("outputs") or {}).get("reasons", [])},
        "errors": [f"{name}: {p['error']['message']}" for name, p in phases.items() if isinstance(p, dict) and p.get("error")],
        "report": os.path.join(run_dir, "report.json") if has_report else None,
        "upload": {"status": upload_status, **(upload.get("outputs") or {})},
    }


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    state_dir, since = argv[1], argv[2]
    allow_none = "--allow-none" in argv[3:]
    runs_dir = os.path.join(state_dir, "runs")
    ids = sorted(r for r in (os.listdir(runs_dir) if os.path.isdir(runs_dir) else []) if r >= since)
    latest_link = os.path.join(state_dir, "latest")
    latest = os.path.basename(os.readlink(latest_link)) if os.path.islink(latest_link) else None
    runs = [describe(state_dir, r, latest) for r in ids]
    done = all(r["final"] for r in runs) if runs else allow_none
    json.dump({"since": since, "done": done, "bootId": (read("/proc/sys/kernel/random/boot_id") or "").strip(), "kernel": os.uname().release, "runs": runs}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
