"""Pure Python domain code: no Qt, peewee or httpx may be imported here."""
