"""A small reimportable flow factory for inspection tests (not blockflow's boot flow)."""

from taskflow import task
from taskflow.patterns import linear_flow
from taskflow.patterns import unordered_flow


class Step(task.Task):
    def execute(self, fail_on=None):
        if fail_on == self.name:
            raise RuntimeError(f'{self.name} failed: password=hunter2')
        return self.name


def make_flow(prefix, devices, steps, gated=False):
    step_class = GatedStep if gated else Step
    root = unordered_flow.Flow(f'{prefix}-devices')
    for device in devices:
        chain = linear_flow.Flow(f'{prefix}-{device}')
        for step in steps:
            chain.add(step_class(name=f'{prefix}-{device}-{step}'))
        root.add(chain)
    return root


class GatedStep(task.Task):
    """Waits until a gate file exists, so a test controls when it finishes."""

    def execute(self, gate_dir):
        import os
        import time
        gate = os.path.join(gate_dir, self.name)
        deadline = time.monotonic() + 60
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.name
