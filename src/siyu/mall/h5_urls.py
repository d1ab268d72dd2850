"""The H5 mall under /m/ (the app's `h5_prefix` is empty)."""

from django.urls import path

from .views import auth, cart, checkout, member, orders, shop

app_name = "mall"

urlpatterns = [
    # browsing
    path("", shop.home, name="home"),
    path("categories/", shop.categories, name="categories"),
    path("c/<int:category_id>/", shop.category, name="category"),
    path("search/", shop.search, name="search"),
    path("p/<int:product_id>/", shop.product, name="product"),
    # cart and checkout
    path("cart/", cart.cart, name="cart"),
    path("cart/add/", shop.add_to_cart, name="cart_add"),
    path("cart/update/", cart.cart_update, name="cart_update"),
    path("buy/", shop.buy_now, name="buy_now"),
    path("checkout/", checkout.checkout, name="checkout"),
    # orders and after-sales
    path("orders/", orders.order_list, name="orders"),
    path("orders/<int:order_id>/", orders.order_detail, name="order"),
    path("orders/<int:order_id>/pay/", orders.pay, name="pay"),
    path("orders/<int:order_id>/cancel/", orders.cancel, name="order_cancel"),
    path("orders/<int:order_id>/confirm/", orders.confirm_receipt, name="order_confirm"),
    path("orders/<int:order_id>/after-sales/new/", orders.after_sale_new, name="after_sale_new"),
    path("after-sales/", orders.after_sales, name="after_sales"),
    path("after-sales/<int:case_id>/", orders.after_sale, name="after_sale"),
    path("after-sales/<int:case_id>/action/", orders.after_sale_action, name="after_sale_action"),
    # shopper login and account
    path("login/", auth.login, name="login"),
    path("login/code/", auth.send_code, name="login_code"),
    path("logout/", auth.logout, name="logout"),
    path("login/wechat/", auth.wechat_login, name="wechat_login"),
    path("login/wechat/callback/", auth.wechat_callback, name="wechat_callback"),
    path("login/wechat/fake-authorize/", auth.wechat_fake_authorize, name="wechat_fake_authorize"),
    path("privacy/", auth.privacy, name="privacy"),
    path("me/", member.me, name="me"),
    path("me/addresses/", member.addresses, name="addresses"),
    path("me/addresses/new/", member.address_form, name="address_new"),
    path("me/addresses/<int:address_id>/", member.address_form, name="address_edit"),
    path("me/addresses/<int:address_id>/delete/", member.address_delete, name="address_delete"),
    path("me/addresses/<int:address_id>/default/", member.address_default, name="address_default"),
]
