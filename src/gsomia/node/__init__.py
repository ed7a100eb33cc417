"""The use cases of a party's node: publishing, reading, releasing to peers, consents,
reports, notices and the log, behind the ports of ``gsomia.store``; the audit trail."""
