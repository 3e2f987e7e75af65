"""The patient information notice (PIN) as a PDF, in French and English (``fpdf2``)."""

from __future__ import annotations

from fpdf import FPDF

PIN_VERSION = "2024-01"

TEXTS = {
    "fr": (
        "Notice d'information du patient - Service MyHealth@EU (synthèse médicale)",
        [
            "Vous recevez des soins en France. Le professionnel de santé qui vous soigne peut consulter, "
            "avec votre accord, la synthèse médicale (Patient Summary) que votre pays d'affiliation a "
            "préparée pour vous, grâce au service européen MyHealth@EU.",
            "La synthèse médicale contient vos allergies, vos problèmes de santé actuels, vos traitements, "
            "vos dispositifs médicaux, vos interventions chirurgicales et vaccinations. Elle est traduite "
            "en français ; le texte original reste consultable.",
            "Le professionnel vérifie d'abord votre identité auprès de votre pays. Chaque consultation est "
            "tracée, en France et dans votre pays. Les données ne sont utilisées que pour vos soins.",
            "Vous pouvez refuser : vos soins ne seront pas refusés pour autant. Vous pouvez exercer vos "
            "droits (accès, rectification) auprès du point de contact national de votre pays et, en France, "
            "auprès de l'Agence du numérique en santé.",
        ],
        "Version de la notice : ",
    ),
    "en": (
        "Patient information notice - MyHealth@EU service (Patient Summary)",
        [
            "You are receiving care in France. With your agreement, the health professional treating you "
            "may read the Patient Summary your country of affiliation prepared for you, through the "
            "European MyHealth@EU service.",
            "The Patient Summary holds your allergies, current health problems, medicines, medical devices, "
            "surgical procedures and vaccinations. It is translated into French; the original text remains "
            "available.",
            "The professional first checks your identity with your country. Every access is logged, in "
            "France and in your country. The data are used for your care only.",
            "You may refuse: you will still receive care. You may exercise your rights (access, correction) "
            "with the national contact point of your country and, in France, with the Agence du numérique "
            "en santé.",
        ],
        "Notice version: ",
    ),
}


def pin_pdf(lang: str) -> bytes:
    title, paragraphs, version = TEXTS[lang]
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_lang(lang)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 14)
    pdf.multi_cell(0, 8, title)
    pdf.ln(4)
    pdf.set_font("helvetica", size=11)
    for text in paragraphs:
        pdf.multi_cell(0, 6, text)
        pdf.ln(3)
    pdf.set_font("helvetica", "I", 9)
    pdf.multi_cell(0, 5, version + PIN_VERSION)
    return bytes(pdf.output())
