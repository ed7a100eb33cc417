"""gsomia.domain"""
