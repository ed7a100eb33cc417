"""gsomia.ledger"""
