"""Datasette hooks of the darksocial plugin: one function per hook, each delegating to a module of ``reporting``.

Datasette allows one implementation of a hook per plugin module, so a hook that several modules need calls each.
"""

from datasette import hookimpl

from darksocial import reports as queries

from . import auth, collect, indexes, metadata, pages


@hookimpl
def register_routes(datasette):
    return collect.routes() + pages.routes()


@hookimpl
def skip_csrf(datasette, scope):
    return collect.skip_csrf(scope)


@hookimpl
def startup(datasette):
    async def inner():
        await collect.startup(datasette)
        await indexes.ensure(datasette, metadata.darksocial_database(datasette))

    return inner


@hookimpl
def asgi_wrapper(datasette):
    return collect.asgi_wrapper(datasette)


# -- reports, charts and access control (reporting.metadata, .pages, .auth) -----------------------------------------
@hookimpl
def get_metadata(datasette, key, database, table):
    return metadata.metadata(datasette)


@hookimpl
def permission_allowed(datasette, actor, action, resource):
    if actor is None and auth.anonymous_denied(action, resource, queries.private_report_names(auth.private_tables())):
        return False
    return None


@hookimpl
def prepare_jinja2_environment(env, datasette):
    pages.add_templates(env)


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    return pages.render_cell(value, column, database, datasette)


@hookimpl
def menu_links(datasette, actor):
    return pages.menu_links(datasette, actor)
