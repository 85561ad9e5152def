"""peewee layer: database proxy, models, migrations and repository functions.

Repository functions take and return core dataclasses; each use case is one atomic() block.
"""
