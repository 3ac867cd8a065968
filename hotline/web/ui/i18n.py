"""UI strings in zh-CN and English. The language comes from the ``lang`` cookie or Accept-Language."""

from __future__ import annotations

from starlette.requests import Request

LANGS = ("zh-CN", "en")

STRINGS: dict[str, dict[str, str]] = {
    "app_name": {"zh-CN": "Hotline 客户服务中心", "en": "Hotline service center"},
    "login_title": {"zh-CN": "登录", "en": "Sign in"},
    "tenant": {"zh-CN": "租户（可选）", "en": "Tenant (optional)"},
    "username": {"zh-CN": "用户名", "en": "User name"},
    "password": {"zh-CN": "密码", "en": "Password"},
    "sign_in": {"zh-CN": "登录", "en": "Sign in"},
    "sign_out": {"zh-CN": "退出", "en": "Sign out"},
    "welcome": {"zh-CN": "欢迎", "en": "Welcome"},
    "roles": {"zh-CN": "角色", "en": "Roles"},
    "unit": {"zh-CN": "所属单位", "en": "Unit"},
    "api_docs": {"zh-CN": "API 文档", "en": "API documentation"},
    "health": {"zh-CN": "系统状态", "en": "System health"},
    "language": {"zh-CN": "English", "en": "中文"},
    "bad_form": {"zh-CN": "表单已过期，请重试。", "en": "The form expired; please try again."},
}


def pick_lang(request: Request) -> str:
    cookie = request.cookies.get("lang")
    if cookie in LANGS:
        return cookie
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept.startswith("en") else "zh-CN"


def translator(lang: str) -> dict[str, str]:
    return {key: texts[lang] for key, texts in STRINGS.items()}
