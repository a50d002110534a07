"""Spark's progress as events for the job page: stages and tasks done of total (Spark's status
tracker), rows read and written (the accumulators the executors add to), the Spark UI's URL
while the application runs, and from these a percentage, a rate and an ETA. A thread of the
driver, every PROGRESS_SECONDS.

The percentage is of the tasks of the stages Spark has submitted so far; a job's later stages
(writing the output) add tasks, so it is kept from going back. The ETA is the tasks left at
the rate tasks have been done since the progress began."""

from __future__ import annotations

import threading
import time

from jobs.runner.events import Counts, Events

PROGRESS_SECONDS = 0.5


class Progress(threading.Thread):
    def __init__(self, *, sc, events: Events, counts: Counts, accumulators: dict) -> None:
        super().__init__(name="spark-progress", daemon=True)
        self.sc = sc
        self.events = events
        self.counts = counts
        self.accumulators = accumulators
        self.stages: dict[int, tuple[int, int]] = {}  # stage id → (tasks done, tasks)
        self.stop_event = threading.Event()
        self.ui_url = sc.uiWebUrl or ""
        self.began = time.monotonic()
        self.percent = 0

    def snapshot(self, *, running: bool = True) -> dict:
        tracker = self.sc.statusTracker()
        active = set(tracker.getActiveStageIds())
        for stage_id in active:
            info = tracker.getStageInfo(stage_id)
            if info is not None:
                self.stages[stage_id] = (info.numCompletedTasks, info.numTasks)
        for stage_id, (_, total) in list(self.stages.items()):
            if stage_id not in active:  # finished (a failed stage ends the job anyway)
                self.stages[stage_id] = (total, total)
        done = [s for s, (d, t) in self.stages.items() if s not in active and d == t]
        acc = self.accumulators
        tasks_done = sum(d for d, _ in self.stages.values())
        tasks_total = sum(t for _, t in self.stages.values())
        rows_read = acc["read"].value if acc else 0
        elapsed = max(time.monotonic() - self.began, 1e-6)
        if running:
            now = int(100 * tasks_done / tasks_total) if tasks_total else 0
            self.percent = min(99, max(self.percent, now))
            left = tasks_total - tasks_done
            eta = round(left * elapsed / tasks_done) if tasks_done and left else 0
        else:
            self.percent, eta = 100, 0
        return {
            "engine": "spark",
            "stages_done": len(done),
            "stages_total": len(self.stages),
            "tasks_done": tasks_done,
            "tasks_total": tasks_total,
            "rows_read": rows_read,
            "rows_written": acc["written"].value if acc else 0,
            "percent": self.percent,
            "eta_seconds": eta,
            "rows_per_second": round(rows_read / elapsed),
            "ui_url": self.ui_url if running else "",
            "application_id": self.sc.applicationId,
        }

    def send(self, *, running: bool = True) -> None:
        progress = self.snapshot(running=running)
        if self.accumulators:
            self.counts.records_read = progress["rows_read"]
            self.counts.records_written = progress["rows_written"]
        self.events.engine(progress)
        self.events.progress(self.counts, force=True)

    def run(self) -> None:
        while not self.stop_event.wait(PROGRESS_SECONDS):
            try:
                self.send()
            except Exception:  # the application is stopping: no more progress to tell
                return

    def stop(self) -> None:
        self.stop_event.set()
        self.join(2)
