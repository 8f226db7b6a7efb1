from django import forms
from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render

from django_taskqueue import enqueue_by_alias

from .models import Customer


class SignupForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = ["name", "email"]


def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            customer = form.save()
            # Runners see this item only once the customer row is committed with it.
            enqueue_by_alias("SendWelcomeEmail", {"customer_id": customer.pk})
        messages.success(request, f"Welcome, {customer.name}! Check your inbox.")
        return redirect("signup")
    return render(request, "shop/signup.html", {"form": form})
