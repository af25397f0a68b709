"""ORM smoke through shardcat vs directly on `ref`: SQLAlchemy 2 (ORM and
Core, PyMySQL driver) and Django's ORM (PyMySQL as MySQLdb; the schema
editor creates the tables; and `makemigrations`/`migrate` creating then
altering a sharded model's table, with CRUD and aggregates after), on a sharded table (`ormu`: hash by id over 2
nodes x 2 tables) and an unsharded one. Each side runs the same program:
create tables, bulk and single inserts, get by key, filtered and ordered
queries, update, delete, COUNT/SUM/AVG/GROUP BY aggregates, a transaction
rolled back; the observations (rows, counts, rowcounts) must be equal.
Installs sqlalchemy and django with pip when missing.
"""

import decimal
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RULES = """
[[table]]
name = "smokeapp_item"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "ormu"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "dju"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"""
DB = harness.unique_db("orm")


def ensure(*mods):
    missing = []
    for m in mods:
        try:
            __import__(m)
        except ImportError:
            missing.append(m)
    if missing:
        args = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *missing]
        if subprocess.run(args).returncode != 0:
            subprocess.run(args + ["--break-system-packages"], check=True)


def norm(v):
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [norm(x) for x in v]
    return v


def sqlalchemy_side(params):
    from sqlalchemy import Integer, String, create_engine, func, select, text
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

    class Base(DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = "ormu"
        id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
        name: Mapped[str] = mapped_column(String(40))
        score: Mapped[int] = mapped_column(Integer)

    class Note(Base):
        __tablename__ = "ormn"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        body: Mapped[str] = mapped_column(String(40))

    url = (f"mysql+pymysql://{params['user']}:{params['password']}@{params['host']}:"
           f"{params['port']}/{DB}")
    engine = create_engine(url)
    obs = {}
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([User(id=i, name=f"u{i % 7}", score=i * 3 % 11) for i in range(1, 61)])
        s.add_all([Note(body=f"n{i}") for i in range(5)])
        s.commit()
        obs["get"] = (s.get(User, 17).name, s.get(User, 999))
        obs["filter"] = [(u.id, u.name) for u in s.scalars(
            select(User).where(User.score > 5).order_by(User.id.desc()).limit(7))]
        obs["in"] = sorted(u.id for u in s.scalars(select(User).where(User.id.in_([3, 4, 40]))))
        u = s.get(User, 5)
        u.score = 100
        s.delete(s.get(User, 6))
        s.commit()
        obs["after-update"] = [(u.id, u.score) for u in s.scalars(select(User).where(User.id < 9).order_by(User.id))]
        obs["agg"] = norm(list(s.execute(select(func.count(), func.sum(User.score), func.avg(User.score))).one()))
        obs["group"] = norm([list(r) for r in s.execute(
            select(User.name, func.count(), func.max(User.score)).group_by(User.name).order_by(User.name))])
        r = s.execute(User.__table__.update().where(User.name == "u1").values(score=0))
        obs["core-update-rowcount"] = r.rowcount
        s.commit()
        s.add(User(id=500, name="tx", score=1))
        s.flush()
        s.rollback()
        obs["rolled-back"] = s.get(User, 500)
        obs["notes"] = [n.body for n in s.scalars(select(Note).order_by(Note.id))]
        obs["raw"] = norm(list(s.execute(text("SELECT COUNT(*), MIN(id), MAX(id) FROM ormu")).one()))
    Base.metadata.drop_all(engine)
    engine.dispose()
    return obs


def django_side(params):
    import pymysql
    pymysql.install_as_MySQLdb()
    import django
    from django.conf import settings
    if not settings.configured:
        settings.configure(DATABASES={}, INSTALLED_APPS=[], USE_TZ=False)
        django.setup()
    from django.db import connections, models, transaction
    from django.db.models import Avg, Count, Max, Sum

    alias = f"db{params['port']}"
    connections.databases[alias] = {
        "ENGINE": "django.db.backends.mysql", "NAME": DB, "USER": params["user"],
        "PASSWORD": params["password"], "HOST": params["host"], "PORT": str(params["port"]),
        "OPTIONS": {"charset": "utf8mb4"}, "TIME_ZONE": None, "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False, "TEST": {},
    }
    name = f"Dju{params['port']}"
    if name not in globals():
        class Meta:
            app_label = "smoke"
            db_table = "dju"
        globals()[name] = type(name, (models.Model,), {
            "__module__": __name__, "Meta": Meta,
            "id": models.IntegerField(primary_key=True),
            "name": models.CharField(max_length=40),
            "score": models.IntegerField(default=0),
        })
    M = globals()[name]
    objs = M.objects.using(alias)
    obs = {}
    with connections[alias].schema_editor() as ed:
        ed.create_model(M)
    objs.bulk_create([M(id=i, name=f"d{i % 5}", score=i % 9) for i in range(1, 41)])
    objs.create(id=100, name="single", score=50)
    obs["get"] = objs.get(id=7).name
    obs["filter"] = list(objs.filter(score__gte=6).order_by("-id").values_list("id", "score")[:6])
    obs["exists"] = (objs.filter(id=33).exists(), objs.filter(id=333).exists())
    obs["update"] = objs.filter(name="d2").update(score=99)
    obs["delete"] = objs.filter(id__in=[1, 2, 3]).delete()[0]
    o = objs.get(id=10)
    o.name = "renamed"
    o.save()
    obs["saved"] = list(objs.filter(id__lte=12).order_by("id").values_list("id", "name", "score"))
    obs["agg"] = norm(list(objs.aggregate(c=Count("id"), s=Sum("score"), a=Avg("score"), m=Max("name")).items()))
    obs["group"] = list(objs.values("name").annotate(c=Count("id")).order_by("name").values_list("name", "c"))
    try:
        with transaction.atomic(using=alias):
            objs.create(id=777, name="tx", score=1)
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    obs["rolled-back"] = objs.filter(id=777).count()
    with connections[alias].schema_editor() as ed:
        ed.delete_model(M)
    connections[alias].close()
    return obs


MIGRATION_RUNNER = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
import pymysql
pymysql.install_as_MySQLdb()
import django
from django.conf import settings
p = json.loads(sys.argv[2])
settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.mysql", "NAME": p["db"],
                           "USER": p["user"], "PASSWORD": p["password"],
                           "HOST": p["host"], "PORT": str(p["port"])}},
    INSTALLED_APPS=["smokeapp"], USE_TZ=False, DEFAULT_AUTO_FIELD="django.db.models.AutoField")
django.setup()
from django.core.management import call_command
call_command(*sys.argv[4:], verbosity=0)
if sys.argv[3] == "crud":
    from django.db.models import Count, Sum
    from smokeapp.models import Item
    Item.objects.bulk_create([Item(id=i, name=f"i{i % 3}", qty=i) for i in range(1, 31)])
    print(json.dumps({
        "rows": list(Item.objects.order_by("id").values_list("id", "name", "qty")[:5]),
        "agg": list(Item.objects.values("name").annotate(c=Count("id"), s=Sum("qty"))
                    .order_by("name").values_list("name", "c", "s")),
        "migrations": list(__import__("django.db.migrations.recorder", fromlist=["x"])
                           .MigrationRecorder.Migration.objects.filter(app="smokeapp")
                           .order_by("name").values_list("name", flat=True)),
    }))
'''
MODELS_V1 = """from django.db import models
class Item(models.Model):
    id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=20)
"""
MODELS_V2 = MODELS_V1 + "    qty = models.IntegerField(default=0)\n"


def django_migrations(params):
    """makemigrations + migrate (CREATE TABLE), a model change +
    makemigrations + migrate (ALTER TABLE ADD COLUMN), then CRUD; each step
    in its own process (Django configures itself once per process)."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="shardcat-django-")
    try:
        os.makedirs(f"{d}/smokeapp/migrations")
        for f in ("smokeapp/__init__.py", "smokeapp/migrations/__init__.py"):
            open(os.path.join(d, f), "w").close()
        with open(f"{d}/run.py", "w") as f:
            f.write(MIGRATION_RUNNER)
        p = json.dumps(dict(params, db=DB))
        out = []
        for models, steps in ((MODELS_V1, [("-", "makemigrations", "smokeapp"), ("-", "migrate")]),
                              (MODELS_V2, [("-", "makemigrations", "smokeapp"), ("crud", "migrate")])):
            with open(f"{d}/smokeapp/models.py", "w") as f:
                f.write(models)
            for step in steps:
                r = subprocess.run([sys.executable, f"{d}/run.py", d, p, *step],
                                   capture_output=True, text=True, timeout=120)
                out.append((step[1], r.returncode, r.stdout.strip(),
                            r.stderr.strip().splitlines()[-1:] if r.returncode else []))
        return out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_side(params):
    c = harness.pymysql_connect(params)
    c.cursor().execute(f"DROP DATABASE IF EXISTS `{DB}`")
    c.cursor().execute(f"CREATE DATABASE `{DB}`")
    c.close()
    obs = {}
    for k, v in sqlalchemy_side(params).items():
        obs["sqlalchemy " + k] = v
    for k, v in django_side(params).items():
        obs["django " + k] = v
    for i, step in enumerate(django_migrations(params)):
        obs[f"django migrations {i} {step[0]}"] = step
    c = harness.pymysql_connect(params)
    c.cursor().execute(f"DROP DATABASE IF EXISTS `{DB}`")
    c.close()
    return obs


def main():
    ensure("sqlalchemy", "django", "pymysql")
    checks = harness.Checks("ORM smoke (SQLAlchemy, Django)")
    direct = checks.run("direct", run_side, harness.direct_params("ref")) or {}
    proxy = checks.run("proxy", run_side, harness.proxy_params(harness.Proxy(extra=RULES))) or {}
    checks.ok("direct-ran", len(direct) >= 23, f"{len(direct)} observations")
    for k in direct:
        checks.eq(k, proxy.get(k, "missing"), direct[k])
    checks.finish()


if __name__ == "__main__":
    main()
