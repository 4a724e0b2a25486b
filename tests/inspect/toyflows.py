"""A small reimportable flow factory for inspection tests (not blockflow's boot flow)."""

from taskflow import task
from taskflow.patterns import linear_flow
from taskflow.patterns import unordered_flow


class Step(task.Task):
    def execute(self, fail_on=None):
        if fail_on == self.name:
            raise RuntimeError(f'{self.name} failed: password=hunter2')
        return self.name


def make_flow(prefix, devices, steps):
    root = unordered_flow.Flow(f'{prefix}-devices')
    for device in devices:
        chain = linear_flow.Flow(f'{prefix}-{device}')
        for step in steps:
            chain.add(Step(name=f'{prefix}-{device}-{step}'))
        root.add(chain)
    return root
