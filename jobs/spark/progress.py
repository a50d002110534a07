"""Spark's progress as events for the job page: stages and tasks done of total (Spark's status
tracker), rows read and written (the accumulators the executors add to), the Spark UI's URL
while the application runs. A thread of the driver, every PROGRESS_SECONDS."""

from __future__ import annotations

import threading

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
        return {
            "engine": "spark",
            "stages_done": len(done),
            "stages_total": len(self.stages),
            "tasks_done": sum(d for d, _ in self.stages.values()),
            "tasks_total": sum(t for _, t in self.stages.values()),
            "rows_read": acc["read"].value if acc else 0,
            "rows_written": acc["written"].value if acc else 0,
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
