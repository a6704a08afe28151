"""What a snapshot means given the ticks before it: CPU mode shares, mounts gone read-only, and a
nucleus that was replaced (its CPU time restarts, so no rate across the two processes)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

from metrics_collector.rates import mode_percentages
from metrics_collector.readings import CpuTimes
from metrics_collector.snapshot import SystemSnapshot

logger = logging.getLogger(__name__)


class TickHistory:
    def __init__(self) -> None:
        self._cpu_times: Mapping[str, CpuTimes] = {}
        self._seen_read_write: set[str] = set()
        self._went_read_only: set[str] = set()
        self._nucleus_pid: int | None = None

    def derive(self, snapshot: SystemSnapshot) -> SystemSnapshot:
        modes = mode_percentages(self._cpu_times, snapshot.cpu_times)
        if snapshot.cpu_times:
            self._cpu_times = snapshot.cpu_times
        read_only: dict[str, bool] = {}
        for disk in snapshot.mounts:
            if not disk.read_only:
                self._seen_read_write.add(disk.mountpoint)
            # A rw mount over a ro superblock is the kernel's emergency remount (ext4
            # errors=remount-ro): read-only although this process never saw it writable.
            went = (disk.superblock_read_only and not disk.read_only) or (
                disk.read_only and disk.mountpoint in self._seen_read_write
            )
            read_only[disk.mountpoint] = went
            if went and disk.mountpoint not in self._went_read_only:
                logger.warning("filesystem %s (%s) is now read-only", disk.mountpoint, disk.device)
            (self._went_read_only.add if went else self._went_read_only.discard)(disk.mountpoint)
        nucleus = snapshot.nucleus
        replaced = False
        if nucleus is not None:
            replaced = self._nucleus_pid not in (None, nucleus.pid)
            if replaced:
                logger.info("the nucleus process changed (pid %s -> %s)", self._nucleus_pid, nucleus.pid)
            self._nucleus_pid = nucleus.pid
        return dataclasses.replace(
            snapshot, cpu_mode_percent=modes, disk_read_only=read_only, nucleus_replaced=replaced
        )
