"""Where the domain controllers are: DNS SRV records, nearest site first.

``locator`` puts the answer together; ``srv`` asks DNS; ``cldap`` and ``netlogon``
ask a DC which site this host is in. Nothing here speaks LDAP over TCP or holds a
connection: ``bridge.directory.ldap.discovery`` applies each answer to the failover
list.
"""
