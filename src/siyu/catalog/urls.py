from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("", views.product_list, name="products"),
    path("products/new/", views.product_edit, name="product_new"),
    path("products/<int:product_id>/", views.product_edit, name="product"),
    path("products/<int:product_id>/shelf/", views.product_shelf, name="product_shelf"),
    path("products/<int:product_id>/images/", views.image_upload, name="image_upload"),
    path(
        "images/<int:image_id>/<str:action>/",
        views.image_action,
        name="image_action",
    ),
    path("stock/", views.stock_overview, name="stock"),
    path("stock/adjust/", views.stock_adjust, name="stock_adjust"),
    path("categories/", views.categories, name="categories"),
    path("categories/<int:category_id>/", views.categories, name="category"),
    path("suppliers/", views.suppliers, name="suppliers"),
    path("suppliers/<int:supplier_id>/", views.suppliers, name="supplier"),
    path("locations/", views.locations, name="locations"),
    path("locations/<int:location_id>/", views.locations, name="location"),
]
