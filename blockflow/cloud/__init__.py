"""blockflow's embedded cloud: Keystone v3 + Cinder v3 + Glance v2 on loopback.

Unmodified python-cinderclient and keystoneauth1 talk to it as to a real cloud.
"""
