"""The REST transport: spec/openapi.yaml served over the core engine (see docs/rest.md).

    from mlos.rest.app import create_app
    app = create_app(engine, settings)   # an ASGI app for uvicorn
"""
