"""Progress of a boot or resume, fed by TaskFlow's atom notifications.

On a terminal a rich progress bar per device; on a pipe one line per device
when it finishes (done, failed, reverted), not one per state change;
``quiet`` prints nothing.
"""

import sys
import threading

from blockflow.request import atom_names

_SHOWN = ('RUNNING', 'SUCCESS', 'FAILURE', 'REVERTING', 'REVERTED', 'REVERT_FAILURE')


def _split(instance_uuid, atom_name):
    _uuid, device, step = atom_names.parse(atom_name, instance_uuid)
    return device, step


class _Device:
    def __init__(self, label, total=None):
        self.label = label
        self.total = total
        self.done = 0
        self.failed = None          # the step that failed
        self.reverted = 0
        self.reported = False


class BootProgress:
    def __init__(self, instance_uuid, quiet=False, stream=None):
        self.instance_uuid = instance_uuid
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.rich = hasattr(self.stream, 'isatty') and self.stream.isatty()
        self._lock = threading.Lock()
        self._bars = {}
        self._devices = {}
        self._progress = None

    def set_plan(self, plan):
        if self.quiet:
            return
        from blockflow.request import kinds
        for device in plan.devices:
            dev = atom_names.device_key(device)
            total = len(kinds.KINDS[kinds.Kind(device['kind'])].steps)
            self._devices[dev] = _Device(f"{dev} {device['kind']}", total)
        if not self.rich:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        self._progress = Progress(TextColumn('{task.description:<28}'), BarColumn(),
                                  MofNCompleteColumn(), TextColumn('{task.fields[step]}'),
                                  console=Console(file=self.stream))
        for dev, device in self._devices.items():
            self._bars[dev] = self._progress.add_task(device.label, total=device.total,
                                                      step='pending')
        self._progress.start()

    def __call__(self, state, details):
        if self.quiet or state not in _SHOWN:
            return
        device, step = _split(self.instance_uuid, details.get('task_name') or '')
        with self._lock:
            if self._progress is not None and device in self._bars:
                advance = 1 if state == 'SUCCESS' else 0
                self._progress.update(self._bars[device], advance=advance,
                                      step=f'{step} {state.lower()}')
            elif not self.rich:
                self._line_mode(device, step, state)

    def _line_mode(self, device, step, state):
        entry = self._devices.setdefault(device, _Device(device))
        if state == 'SUCCESS':
            entry.done += 1
            if entry.total is not None and entry.done == entry.total and not entry.failed:
                self._report(entry, f'done ({entry.total} steps)')
        elif state in ('FAILURE', 'REVERT_FAILURE') and entry.failed is None:
            entry.failed = step
            self._report(entry, f'failed at {step}' if state == 'FAILURE'
                         else f'could not undo {step}')
        elif state == 'REVERTED':
            entry.reverted += 1

    def _report(self, entry, text):
        entry.reported = True
        print(f'  {entry.label:28} {text}', file=self.stream, flush=True)

    def close(self):
        if self._progress is not None:
            self._progress.stop()
            return
        if self.quiet or self.rich:
            return
        # Devices whose end was not a last step (resumed flows, reverted work).
        with self._lock:
            for name, entry in self._devices.items():
                if entry.reported or (entry.done == 0 and entry.reverted == 0):
                    continue
                if entry.reverted:
                    self._report(entry, f'undone ({entry.reverted} steps reverted)')
                elif name != 'domain' or entry.total is not None:
                    self._report(entry, f'done ({entry.done} steps)')
