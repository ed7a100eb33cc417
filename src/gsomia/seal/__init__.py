"""gsomia.seal"""
