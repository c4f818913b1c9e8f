from django.contrib.auth import views as auth_views
from django.urls import path

from . import hooks, views

urlpatterns = [
    path("", views.shoutbox, name="shoutbox"),
    path("announce", views.announce, name="announce"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Called by Perigee only (hooks.connect and hooks.send in perigee.yaml).
    path("perigee/connect", hooks.connect, name="perigee-connect"),
    path("perigee/send", hooks.send, name="perigee-send"),
]
