"""gsomia.cli"""
