"""Rewrite imports, dotted names and paths of a checkout for the layer folders
(issue 16): ``python tools/layout_moves.py [CHECKOUT]``. For merging branches
written against the flat layout; idempotent, logger names left alone."""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else '.').resolve()
# old dotted module -> new dotted module
MAP = {
    'blockflow.request.validation': 'blockflow.request.validation',
    'blockflow.request.naming': 'blockflow.request.naming',
    'blockflow.request.kinds': 'blockflow.request.kinds',
    'blockflow.request.atom_names': 'blockflow.request.atom_names',
    'blockflow.clients.openstack': 'blockflow.clients.openstack',
    'blockflow.clients.cloudconfig': 'blockflow.clients.cloudconfig',
    'blockflow.clients.cloud_catalog': 'blockflow.clients.cloud_catalog',
    'blockflow.clients.hypervisor': 'blockflow.clients.hypervisor',
    'blockflow.clients.localdisk': 'blockflow.clients.localdisk',
    'blockflow.clients.volume_poller': 'blockflow.clients.volume_poller',
    'blockflow.runner.engine': 'blockflow.runner.engine',
    'blockflow.runner.boot': 'blockflow.runner.boot',
    'blockflow.runner.resume': 'blockflow.runner.resume',
    'blockflow.runner.teardown': 'blockflow.runner.teardown',
    'blockflow.runner.jobboard': 'blockflow.runner.jobboard',
    'blockflow.runner.crashpoints': 'blockflow.runner.crashpoints',
    'blockflow.persistence.records': 'blockflow.persistence.records',
}

def split(dotted):
    pkg, _, name = dotted.rpartition('.')
    return pkg, name

# 1. "from PKG import NAME [as ALIAS]" lines
from_re = re.compile(r'^(\s*)from (blockflow|tasks) import (\w+)(\s+as\s+\w+)?(\s*(#.*)?)$')
# 2. dotted references anywhere (not preceded by a dot or word char)
names = sorted(MAP, key=len, reverse=True)
# blockflow.clients.openstack became a package: its new submodules are not old references.
_NEW_CLIENTS = r'(?:openstack|cloudconfig|cloud_catalog|hypervisor|localdisk|volume_poller)\b'
_NOT_NEW = r'(?!(?:\.|/| import )' + _NEW_CLIENTS + ')'
dotted_re = re.compile(r'(?<![\w.])(' + '|'.join(re.escape(n) for n in names)
                       + r')(?![\w])' + _NOT_NEW)
# 3. file paths in comments/docstrings
path_re = re.compile(r'(?<![\w/.])(' + '|'.join(re.escape(n.replace('.', '/')) for n in names)
                     + r')' + _NOT_NEW + r'(\.py|/)')

def rewrite_line(line):
    if 'getLogger(' in line:
        return line
    m = from_re.match(line)
    if m:
        indent, pkg, name, alias, tail = m.group(1), m.group(2), m.group(3), m.group(4), m.group(5) or ''
        old = f'{pkg}.{name}'
        if old in MAP:
            new_pkg, new_name = split(MAP[old])
            if alias:
                return f'{indent}from {new_pkg} import {new_name}{alias}{tail}'
            if new_name != name:
                return f'{indent}from {new_pkg} import {new_name} as {name}{tail}'
            return f'{indent}from {new_pkg} import {new_name}{tail}'
    line = dotted_re.sub(lambda m: MAP[m.group(1)], line)
    line = path_re.sub(lambda m: MAP[m.group(1).replace('/', '.')].replace('.', '/') + m.group(2), line)
    return line

files = subprocess.run(['git', 'ls-files', '*.py', '*.cfg', '*.toml', 'Makefile', '*.txt'],
                       cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
changed = []
for rel in files:
    p = ROOT / rel
    if not p.exists():
        continue
    text = p.read_text()
    new = '\n'.join(rewrite_line(l) for l in text.split('\n'))
    if new != text:
        p.write_text(new)
        changed.append(rel)
print(len(changed), 'files rewritten')
print('\n'.join(changed))
