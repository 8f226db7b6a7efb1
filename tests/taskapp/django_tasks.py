"""Functions decorated with Django's ``@task`` (Django 6.0+), mostly from Django's own docs."""

from __future__ import annotations

import asyncio

from django.core.mail import send_mail
from django.tasks import TaskContext, task

from tests.taskapp.errors.payments import PaymentDeclined, UnprintableError


class TaskBoom(Exception):
    """An exception class of the project's own, to check its dotted path comes back."""


@task
def email_users(emails: list[str], subject: str, message: str) -> int:
    return send_mail(subject=subject, message=message, from_email=None, recipient_list=emails)


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def pair(a: object, b: object) -> tuple[object, object]:
    return a, b


@task
async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


@task
def fails(message: str) -> None:
    raise ValueError(message)


@task
def booms() -> None:
    raise TaskBoom("boom")


@task(takes_context=True)
def describe_context(context: TaskContext) -> dict[str, object]:
    result = context.task_result
    return {
        "attempt": context.attempt,
        "id": result.id,
        "status": result.status,
        "worker_ids": result.worker_ids,
    }


@task(takes_context=True)
def succeeds_on_second_attempt(context: TaskContext) -> int:
    if context.attempt < 2:
        raise RuntimeError(f"attempt {context.attempt} fails on purpose")
    return context.attempt


not_a_task = add.func


@task
async def fails_in_a_task_group() -> None:
    async def declined() -> None:
        raise PaymentDeclined("card 4242 declined")

    async with asyncio.TaskGroup() as group:
        group.create_task(declined())


@task
def declines() -> None:
    raise PaymentDeclined("insufficient funds")


@task
def fails_unprintably() -> None:
    raise UnprintableError()
