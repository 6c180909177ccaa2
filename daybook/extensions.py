"""Flask extensions, created unbound and initialised by create_app."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from daybook.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# General request limits (the API's); login throttling lives in the database (services.auth).
limiter = Limiter(key_func=get_remote_address, default_limits=[])
