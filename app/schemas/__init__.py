"""The API's marshmallow schemas, one module per resource; shared fields in ``base``.

Request schemas load (and refuse) what clients send; they live outside ``app.api`` so the
worker and the sweeper can use a resource's shape without importing the web layer.
"""
