"""Progress of a boot or resume, fed by TaskFlow's atom notifications.

A rich progress bar per device on a terminal; plain lines otherwise.
"""

import sys
import threading

from blockflow import kinds

_SHOWN = ('RUNNING', 'SUCCESS', 'FAILURE', 'REVERTING', 'REVERTED')


def _split(instance_uuid, atom_name):
    rest = atom_name[len(instance_uuid) + 1:] if atom_name.startswith(instance_uuid) \
        else atom_name
    device, _sep, step = rest.partition('-')
    return device, step


class BootProgress:
    def __init__(self, instance_uuid, quiet=False, stream=None):
        self.instance_uuid = instance_uuid
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.rich = hasattr(self.stream, 'isatty') and self.stream.isatty()
        self._lock = threading.Lock()
        self._bars = {}
        self._progress = None

    def set_plan(self, plan):
        if self.quiet or not self.rich:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        self._progress = Progress(TextColumn('{task.description:<28}'), BarColumn(),
                                  MofNCompleteColumn(), TextColumn('{task.fields[step]}'),
                                  console=Console(file=self.stream))
        for device in plan.devices:
            dev = device['device_name'].replace('/dev/', '')
            total = len(kinds.KINDS[kinds.Kind(device['kind'])].steps)
            self._bars[dev] = self._progress.add_task(
                f"{dev} {device['kind']}", total=total, step='pending')
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
                print(f'  {device:6} {step:24} {state}', file=self.stream, flush=True)

    def close(self):
        if self._progress is not None:
            self._progress.stop()
