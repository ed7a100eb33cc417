"""gsomia.store"""
