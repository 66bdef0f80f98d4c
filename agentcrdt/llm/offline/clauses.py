"""Contract clause types (CUAD's yes/no categories): which clauses a contract has, and the clause itself.

The generic classifier (:mod:`.classify`) tags by a label's keywords or by a sentence's similarity to its
description. On contracts that finds a clause's words, not its sense: "non-exclusive" is no exclusivity,
"no third-party beneficiaries" names none, "headings are for convenience" terminates nothing. Here each
clause type is a rule: cue patterns (a sentence must match one), a veto (it must match none), and a
confidence (the share of the rule's hits that were right on CUAD's tune half). A sentence counts only when
it reads as a clause: long enough, with a verb, and neither a definition nor filing boilerplate. The quote
is the matching sentence closest to the label's description, so it is the clause the tag rests on, and
verbatim by construction.

The rules answer a vocabulary made only of clause names they know, given without keywords
(:func:`answers`): a label that brings keywords asks for those cues and keeps the generic path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.text import Span, quote, sentences
from agentcrdt.llm.tasks import Classification, DocumentInput, LabelSpec, Quote

__all__ = [
    "RULES",
    "TUNE_PRECISION",
    "ClauseRule",
    "answers",
    "classify_clauses",
    "clause_sentences",
    "normal",
]

#: Candidate sentences compared with a label to choose the quote (the rest are counted, not embedded).
MAX_CANDIDATES = 12


def _pattern(*alternatives: str) -> re.Pattern[str]:
    # Rules are written in lower case with single spaces and matched against normal(sentence): ten
    # times cheaper than re.I with \s+ everywhere, on contracts whose PDF conversion breaks lines anywhere.
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.S)


def normal(text: str) -> str:
    """Return ``text`` as the rules read it: lower case, every run of whitespace one space."""
    return _SPACE.sub(" ", text.lower())


_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ClauseRule:
    """A clause type: a sentence states it when it matches ``cue`` and not ``veto`` (both read the
    sentence as :func:`normal` returns it)."""

    cue: re.Pattern[str]
    veto: re.Pattern[str] | None
    confidence: float
    #: Clause types one of which the document must also state (an exception needs a rule to except from).
    requires: tuple[str, ...] = ()

    def states(self, sentence: str) -> bool:
        """Tell whether ``sentence`` (normalized by :func:`normal`) states this clause."""
        return self.cue.search(sentence) is not None and not (self.veto and self.veto.search(sentence))


def _rule(*cues: str, veto: str | None = None, requires: tuple[str, ...] = ()) -> ClauseRule:
    # The confidence is set from TUNE_PRECISION once every rule is written.
    return ClauseRule(_pattern(*cues), _pattern(veto) if veto else None, 0.5, requires)


_VERB = _pattern(
    r"\b(shall|will|may|must|agrees?|agreed|is|are|be|been|has|have|had|grants?|granted|hereby|can|cannot"
    r"|entitled|does|do|would|should|undertakes?|covenants?|warrants?|appoints?|appointed)\b"
)
_DEFINITION = _pattern(
    r'^[(\w.)\s]{0,8}["“][^"”]{1,80}["”] (means|shall mean|has the meaning|have the meaning'
    r"|shall have the meaning|refers to)"
)
# Filing legends and interpretation boilerplate that mention clause words without being clauses.
_BOILERPLATE = _pattern(
    r"securities and exchange commission",
    r"confidential treatment",
    r"headings?[^.;]{0,60}for convenience",
    r"for convenience of reference",
    r"competitive harm",
    r"competitively harmful",
)


def clause_sentences(text: str) -> list[tuple[Span, str]]:
    """Return the sentences of ``text`` that read as clauses (not headings, definitions or legends),
    each with its :func:`normal` form."""
    out = []
    for s in sentences(text):
        n = normal(s.text)
        if len(n) >= 25 and _VERB.search(n) and not _DEFINITION.search(n) and not _BOILERPLATE.search(n):
            out.append((s, n))
    return out


#: Clause types by tag name (CUAD category in snake case). Tuned on the tune half only.
RULES: dict[str, ClauseRule] = {
    "most_favored_nation": _rule(
        r"most favou?red",
        r"most favou?rable",
        r"(no|not be) less favou?rable (to [\w ]{1,30})?than",
        r"(terms|prices?|pricing)[^.;]{0,40}(more favou?rable|better|lower) than (those|the terms|the"
        r" prices?)",
        r"no (greater|higher) than the lowest",
        r"lowest (net )?price (charged|offered)",
        r"(equal to|match) the (lowest|best) (price|terms)",
        r"(better|more favou?rable) terms",
    ),
    "competitive_restriction_exception": _rule(
        r"(restrictions?|covenants?|exclusivity|provisions?|foregoing)[^.;]{0,80}(shall|will|do|does) not"
        r" (apply|restrict|prohibit|prevent|limit|preclude|be applicable)",
        r"nothing in this (agreement|section|paragraph)[^.;]{0,30} (shall|will) (be deemed to )?"
        r"(restrict|prohibit|prevent|limit|preclude)(?=.*(compet|exclusiv|solicit|similar|any (person|entity)"
        r"|third part))",
        r"not be (deemed|considered) (a )?(breach|violation)",
        r"exclusivity exceptions?",
        r"(shall|will) not be (restricted|prohibited|precluded|prevented) from",
        r"(revoke|lose|loses|terminate|forfeit)s? (the |its )?exclusivity",
        r"notwithstanding the (foregoing|grant of exclusivity|restrictions?)[^.;]{0,80}(may|shall|will|be"
        r" entitled|right|permitted)(?=.*(compet|exclusiv|solicit|sponsor|advertis|promot|market|sell"
        r"|distribut))",
        r"(less than|not more than|up to) [^.;]{0,30}(percent|%)[^.;]{0,80}(securities|shares|stock|equity)",
        r"(shall|will) (not )?(have the right to|be permitted to|be free to)[^.;]{0,60}(compet|sell|market"
        r"|distribut)",
        veto=r"confidential|disclos",
        requires=("non_compete", "exclusivity", "no_solicit_of_customers"),
    ),
    "non_compete": _rule(
        r"non-?compet",
        r"not to compete",
        r"(not|nor|never)\b[^.;]{0,80}\b(compete|competing|competitive (products?|business|services?"
        r"|company)|competitor)",
        r"(engage|participate|invest|interest) in any (competing|competitive) (business|products?)",
        r"restricted (period|territory|business)",
        r"covenant not to compete",
        veto=(
            r"competitive harm|competitively harmful|court of competent|competent (court|jurisdiction"
            r"|authority)"
        ),
    ),
    "exclusivity": _rule(
        r"exclusive (distributor|supplier|provider|reseller|agent|agency|right|license|licence|basis|rights"
        r"|appointment|sponsor|marketing|financial advisor|partner|territory)",
        r"exclusively (to|from|with|for|by)",
        r"all of (its|their) requirements",
        r"exclusivity",
        r"(not|nor)\b[^.;]{0,60}\b(grant|appoint|sell|license|market|distribute|supply)[^.;]{0,60}(any"
        r" )?(other|third part|anyone other|to any person other)",
        veto=(
            r"non-?\s?exclusive|sole and exclusive (remedy|remedies|owner|property|liability)|not be"
            r" (interpreted|construed) as granting[^.;]{0,40}exclusive"
        ),
    ),
    "no_solicit_of_customers": _rule(
        r"solicit[^.;]{0,80}\b(customers?|clients?|accounts?|members?|insureds|subscribers)",
        r"divert[^.;]{0,60}\b(business|customers?)",
        r"(customers?|clients?)[^.;]{0,40}\bsolicit",
        r"circumvent",
        r"entice away",
    ),
    "no_solicit_of_employees": _rule(
        r"(solicit|recruit|hire|induce|entice|employ or seek to employ|seek to"
        r" employ)[^.;]{0,80}\b(employees?|personnel|staff|key individual)\b",
        r"leave (his|her|their|its) employ",
        r"non-?solicit",
        r"solicit for employment",
        r"(terminate|leave) (his|her|their) (employment|engagement)",
        veto=r"undercover",
    ),
    "non_disparagement": _rule(
        r"disparag",
        r"(injurious|detrimental|harmful) to the (business|reputation|goodwill)",
        r"reflects? (un)?favou?rably",
        r"(negative|derogatory|defamatory) (statements?|comments?|remarks?)",
        r"(damage|harm)[^.;]{0,30}(reputation|goodwill)",
    ),
    "termination_for_convenience": _rule(
        r"for (its|their|any|his|her) convenience",
        r"terminat[^.;]{0,60}for convenience",
        r"(terminat|cancel)[^.;]{0,80}(with or )?without cause",
        r"for non-?cause",
        r"(may|can|shall have the right to|be entitled to|is entitled to|right to) (at any time"
        r" )?(terminate|cancel)"
        r" (this|the|any)[^.;]{0,100}(\b(days|months|weeks)\b[^.;]{0,30}(prior |advance )?(written )?notice"
        r"|at any time|upon (prior )?(written )?notice)",
        r"(may|right to) (terminate|cancel)[^.;]{0,80}(for any|without any|for no) reason",
        r"terminated by [^.;]{0,60}for any reason (upon|on|by)",
        r"terminable[^.;]{0,60}(upon|on|by|with) [^.;]{0,40}notice",
        r"may be terminated[^.;]{0,60}by either party (upon|on|by|with) [^.;]{0,40}notice",
        r"cancell?able at any time",
        r"(desires?|wishes|decides|wish) to terminate",
        r"right (at any time|at all times)[^.;]{0,60}to terminate",
        veto=r"breach|default|fails? to|failure|insolv|bankrupt|employment|renewal|whereas|not be terminated"
        r"|terminat[^.;]{0,100}\b(if|in the event|upon the occurrence|should)\b"
        r"|remove|survive|member",
    ),
    "rofr_rofo_rofn": _rule(
        r"first (right of )?(refusal|offer|negotiation)",
        r"right of first",
        r"first right to (negotiate|purchase|acquire|offer|exclusive)",
        r"(option|right) to (purchase|acquire|match|buy)",
        r"preferential right",
        r"matching right",
        r"exclusive option",
        r"first option",
        r"opportunity to purchase",
    ),
    "change_of_control": _rule(
        r"change (of|in) (effective )?(control|ownership)",
        r"(merger|merged|consolidat|acquisition|acquired|reorganiz)[^.;]{0,100}(terminat|consent|notice)",
        r"(terminat|consent|notice)[^.;]{0,100}(merger|merged|consolidat|acquisition|acquired)",
        r"(sale|transfer) of all or substantially all",
        r"controlling interest",
        r"transfer of control",
        r"control of [^.;]{0,40}(pass|transfer)",
        r"competitor change",
        veto=r"may assign|no consent|without (such |the )?(prior )?(written )?consent|employment|warrant",
    ),
    "anti_assignment": _rule(
        r"(not|no)\b[^.;]{0,60}\b(assign|transfer|delegate|subcontract)",
        r"(assign|transfer|assignment|subcontract)[^.;]{0,120}(prior (written )?consent|without the (prior"
        r" )?(written )?consent|consent of|approval of)",
        r"(assignment|transfer)[^.;]{0,60}(void|null)",
    ),
    "revenue_profit_sharing": _rule(
        r"(pay|paid|payable|entitled to|receive|remit|earn)[^.;]{0,80}(royalt(y|ies)|commissions?\b)",
        r"royalt(y|ies) (of|equal|at the rate|rate|payments?|report)",
        r"(running|earned|sales[- ]based) royalt",
        r"revenue shar",
        r"profit shar",
        r"(share|split|allocat)[^.;]{0,20}(of |the )?(the )?(net |gross )?(revenues?|profits?|income"
        r"|proceeds|sales)",
        r"percent(age)?\s?(\([\d.*\s%]+\) )?of (the |its |all )?(\w+ )?(net |gross |total )?(revenues?"
        r"|profits?|sales|income|receipts|proceeds)",
        r"%\)?\s?of (the |its |all )?(\w+ )?(net |gross |total )?(revenues?|profits?|sales|income|receipts"
        r"|proceeds)",
        r"shares? (50|\d+)%",
        veto=r"royalty[- ]free|royalties paid prior|pay no|no responsibility",
    ),
    "price_restrictions": _rule(
        r"(price|pricing|fee|rate|charge)s?[^.;]{0,80}(shall|will|may) not (be )?(increase|exceed|change"
        r"|raise|adjust)",
        r"not (to )?(increase|raise|change|adjust) (the |its |any )?(price|fee|rate|charge)s?",
        r"(adjust|increase|change)[^.;]{0,40}(price|fee|rate)s?[^.;]{0,40}(not more (often|frequently) than"
        r"|no more (often|frequently) than|not to exceed|once (per|in|a|each))",
        r"(price|pricing) (increase|adjustment)s?[^.;]{0,60}(not exceed|no more than|limited|cap)",
        r"maximum charge",
    ),
    "minimum_commitment": _rule(
        r"minimum (annual |monthly |quarterly |total )?(purchase|order|quantity|quantities|volume"
        r"|commitment|requirement|sales|amount|royalt|payment|fee|charge|number|guarantee|performance)",
        r"(purchase|order|buy|pay)[^.;]{0,20} (at least|not less than|a minimum of|no less than)",
        r"(volume|purchase|funding|capacity) commitment",
        r"take[- ]or[- ]pay",
        r"deficiency payment",
        r"guaranteed minimum",
        r"(sales?|purchase) (target|quota)s?",
        r"a minimum of",
        veto=(
            r"minimum (amount|coverage|limits?) of[^.;]{0,30}insurance|insurance|minimum wage|(shortfall"
            r"|deficiency)[^.;]{0,20}(or an overpayment|in collections)"
        ),
    ),
    "volume_restriction": _rule(
        r"in excess of[^.;]{0,60}(volume|quantit|units|capacity|miles|hours|number|users|free time"
        r"|commitment)",
        r"exceed(s|ing)?[^.;]{0,40}(volume|threshold|capacity|quantit|units|commitment)",
        r"(not|no)\b[^.;]{0,20} (to )?exceed[^.;]{0,40}(units|volume|quantit|number|capacity)",
        r"(excess|overage) (charge|fee)s?",
        r"\boverage",
        r"maximum (number|quantity|volume|capacity)",
        r"(volume|usage) (cap|limit|restriction)",
        r"\bcap (monthly|annually|per)",
        r"no more than (one|two|\d+|\()",
        r"(in excess of|exceed(s|ing)?)[^.;]{0,40}forecast",
        veto=r"inspection|counsel|rating",
    ),
    "ip_ownership_assignment": _rule(
        r"works? made for hire",
        r"work for hire",
        r"(hereby|agrees? to|shall|will)( hereby)?( irrevocably)? (assigns?|transfers?|conveys?)( and"
        r" (assigns?|transfers?))?( to [^.;]{1,40})? (all|any and all|its entire|his entire|the entire|all"
        r" of (its|his|their))[^.;]{0,40}(right|title|interest|ownership)",
        r"(shall|will) (be|become|remain) the (sole and )?(exclusive )?property of",
        r"(shall|will) (vest|belong) (in|to)",
        r"all (of )?(its |their |his |her )?(right|rights), title and interest[^.;]{0,80}(shall|will) (be"
        r"|vest|belong)",
        r"(owns?|own) the sole and exclusive right",
        r"exclusive owner of (all )?(the )?(rights|intellectual)",
    ),
    "joint_ip_ownership": _rule(
        r"joint(ly)?[- ]own",
        r"co-?own",
        r"joint (invention|patent|ip|intellectual property|work|development|technology|know-how|data)s?",
        r"owned jointly",
        r"joint and (equal|undivided)",
        r"equal(ly)? (shares?|owned)",
    ),
    "license_grant": _rule(
        r"(grants?|granted|granting|grant) (to )?[^.;]{0,120}(licen[cs]e|sublicen[cs]e|right to use)",
        r"licen[cs]e (is )?(hereby )?granted",
        r"(is|are) (hereby )?licen[cs]ed",
        r"licen[cs]es? (to|under) (use|the|all|any)",
        veto=(
            r"(no|not)\b[^.;]{0,30}(licen[cs]e|right)[^.;]{0,20}(is|are|shall be) (granted|implied)"
            r"|nothing[^.;]{0,60}(grant|licen)"
        ),
    ),
    "non_transferable_license": _rule(
        r"non-?\s?transferr?able",
        r"non-?\s?assignable",
        r"not (be )?(transferable|assignable)",
        r"non-?\s?sub-?licen[cs]able",
        r"without the right to (sublicense|transfer|assign)",
        r"(licen[cs]e|rights)[^.;]{0,60}(may not|shall not|cannot) be (assigned|transferred|sublicensed)",
    ),
    "affiliate_license_licensor": _rule(
        # A grant of a license by the licensor together with its affiliates (or of their IP).
        r"^(?=.*licen[cs])(?=.*\bgrant).*((and|or|on behalf of) (itself and )?(its|their)"
        r" affiliates[^.;]{0,60}"
        r"(hereby )?grants?|for itself and (as representative of|on behalf of) (its affiliates|all other"
        r" members"
        r"|the members of))",
        r"affiliates of (licensor|the licensor)[^.;]{0,80}(licen|grant)",
        r"(licensor|grantor)'s affiliates[^.;]{0,80}(licen|grant)",
        r"(cause|causes) (its|their|the) (affiliates|members of)[^.;]{0,40}to[^.;]{0,20}grant",
    ),
    "affiliate_license_licensee": _rule(
        r"(grant|licen[cs]e)[^.;]{0,120}(to|for) [^.;]{0,60}(and|or) (its|their) (affiliates|subsidiaries)",
        r"licensee and its affiliates",
        r"licensee's affiliates",
        r"(affiliates|subsidiaries) of (licensee|the licensee)",
        r"(licen[cs]e|right)[^.;]{0,40}extend(s|ed)? to[^.;]{0,30}(affiliates|subsidiaries)",
    ),
    "unlimited_all_you_can_eat_license": _rule(
        r"unlimited (number|use|usage|access|copies|users|quantit|right|license|distribution|deployment)",
        r"enterprise[- ]wide",
        r"all you can eat",
        r"without (any )?(limitation|restriction) (on|as to) (the )?(number|quantity|use)",
    ),
    "irrevocable_or_perpetual_license": _rule(
        r"(irrevocable|perpetual)[^.;]{0,100}licen[cs]e",
        r"licen[cs]e[^.;]{0,100}(irrevocable|perpetual)",
        r"(irrevocabl|perpetu)(y|al|ally)[^.;]{0,40}(grant|right)",
        veto=r"revocable[^.;]{0,10}non-?perpetual",
    ),
    "source_code_escrow": _rule(
        r"escrow[^.;]{0,80}source code",
        r"source code[^.;]{0,80}escrow",
        r"escrow agent",
        r"escrow agreement",
        r"(deposit|place)[^.;]{0,40}(with|in) escrow",
    ),
    "post_termination_services": _rule(
        r"(after|upon|following|on|within [^.;]{0,20} of) (the )?(any )?(termination|expiration|expiry"
        r"|effective date"
        r" of termination)[^.;]{0,160}(shall|will|must|agrees?|obligat|may)[^.;]{0,40}(return|pay|provide"
        r"|deliver"
        r"|purchase|buy|sell|transition|wind|continue|remove|assign|transfer|complete|fulfil|sell off"
        r"|repurchase|settle|cooperate|assist|perform)",
        r"transition (services|period|assistance)",
        r"wind[- ]down",
        r"(sell|use)[- ](off|up) period",
        r"last (time )?buy",
        r"(continue|right) to (sell|distribute|use|run)[^.;]{0,60}(inventory|stock|products)",
        r"(for|during) (a period of )?[^.;]{0,20} (months|years|weeks)[^.;]{0,10} (after|following|from)"
        r" (the )?"
        r"(termination|expiration|end of)",
        r"(retain|keep|maintain|preserve)[^.;]{0,80}(records|books|insurance)[^.;]{0,80}(after|following)"
        r" (the )?"
        r"(termination|expiration)",
        veto=(
            r"survive|circumvent|confidential information|cease (any |all )?(new )?us(e|ing)|discontinue"
            r" use"
        ),
    ),
    "audit_rights": _rule(
        r"\baudit",
        r"inspect[^.;]{0,80}(books|records|facilit|premises|accounts|plant|site)",
        r"examin[^.;]{0,60}(books|records|accounts)",
        r"(access|visit)[^.;]{0,40}(facilit|premises|plant|sites?)[^.;]{0,40}(inspect|review|verify)",
        veto=r"audited (financial|balance)|independent (registered )?public account",
    ),
    "uncapped_liability": _rule(
        # A limitation of liability with carve-outs: the carved-out liability is uncapped.
        r"^(?=.*\b(except|excluding|with the exception of|other than|save for|unless)\b[^;]{0,150}(indemni"
        r"|gross negligence|willful|wilful|fraud|breach|section|article|confidential|infringe|death|bodily))"
        r"(?=.*(liab|damages))"
        r"(?=.*(in no event|neither party|shall not exceed|will not exceed|not be liable|no liability|total"
        r" liability|aggregate liability|consequential|indirect))",
        r"(shall|will) not (apply|limit)[^.;]{0,160}(liability|indemnif|confidential|gross negligence"
        r"|willful misconduct|wilful|fraud|infringement)",
        r"(limitation|exclusion)s? (of|on) liability[^.;]{0,160}(shall|will) (not apply|be inapplicable)",
        r"(shall|will) be inapplicable",
        r"nothing in this (section|article|agreement)[^.;]{0,60}(limit|restrict|exclude)[^.;]{0,80}(liab"
        r"|damages)",
        r"not be construed to limit",
        r"waives? any and all limitations",
        r"unlimited liability(?! company)",
        r"uncapped",
        r"no limitation[^.;]{0,30}liabilit",
        veto=r"liability company",
    ),
    "cap_on_liability": _rule(
        r"(liability|liable)[^.;]{0,160}(exceed|limited to|in excess of|not to exceed|greater than|maximum"
        r"|aggregate amount|the amount(s)? (paid|payable|received))",
        r"(in no event|under no circumstances|neither party|not)[^.;]{0,120}(liab|responsible|entitled to"
        r" recover)[^.;]{0,120}(indirect|consequential|incidental|special|punitive|exemplary|lost profits"
        r"|loss of profit)",
        r"(indirect|consequential)[^.;]{0,60}(loss|damages?)[^.;]{0,40}(excluded|is excluded|are excluded)",
        r"limitation (of|on) liability",
        r"(claim|action|suit)s?[^.;]{0,100}(must|shall|may) be (brought|commenced|filed|instituted) (within"
        r"|more than)",
        r"waives?[^.;]{0,60}(consequential|punitive)",
        r"limited to (the )?recovery of (actual|direct) damages",
        r"sole and exclusive (remedy|liability)",
        r"maximum (aggregate )?liability",
        veto=r"debts|obligations of the other|admission of liability",
    ),
    "liquidated_damages": _rule(
        r"liquidated damages",
        r"(early )?termination (fee|charge|payment|penalty)",
        r"(not|and not) (as )?a penalty",
        r"break[- ]?up fee",
        r"cancellation (fee|charge)s?",
        r"(pay|payment)[^.;]{0,60}(penalty|as damages)",
    ),
    "warranty_duration": _rule(
        r"warrant(y|ies|s)?\b[^.;]{0,160}(for a period of|period of|\(\d+\) (months|years|days)|\d+ (months"
        r"|years|days))",
        r"warranty (period|term)",
        r"(one|two|three|\d+|\(\d+\))[- ](year|month)s? (limited )?warrant",
        r"free (of|from) [^.;]{0,60}defects[^.;]{0,80}(for|period|months|years)",
        r"(months|years|days)[^.;]{0,80}(from|after|following) (the )?(date of )?(delivery|shipment"
        r"|installation"
        r"|acceptance|purchase|sale|manufacture)[^.;]{0,80}(defect|warrant|conform|free from)",
        r"(defective|nonconform|non-conform|not in conformity|reject)[^.;]{0,120}within [^.;]{0,30}(days"
        r"|months)",
        veto=(
            r"warrants? (may be|to purchase|exercisable)|grant warrant|shares of|survive|represents and"
            r" warrants that it has"
        ),
    ),
    "insurance": _rule(
        r"(maintain|carry|obtain|procure|keep|purchase)[^.;]{0,80}insurance",
        r"insurance (coverage|policy|policies|certificate)",
        r"additional insured",
        r"(general|product|products|professional|commercial) liability insurance",
        r"certificates? of insurance",
        r"insurance with",
    ),
    "covenant_not_to_sue": _rule(
        r"(not|never)\b[^.;]{0,80}\b(contest|challenge|dispute|attack|oppose)[^.;]{0,100}(validity"
        r"|ownership|title|rights?|enforceability|marks?|patents?)",
        r"covenant not to sue",
        r"not (to )?(sue|bring (any )?(claim|action|suit)|institute|commence)",
        r"(releases?|waives?|discharges?)[^.;]{0,60}(any and all|all) (claims|suits|actions)",
        r"(not|never)\b[^.;]{0,60}(register|apply for)[^.;]{0,60}(trademark|marks?|domain|patent)",
    ),
    "third_party_beneficiary": _rule(
        r"third[- ]party (creditor )?beneficiar",
        r"intended beneficiar",
        r"(are|is|be) (an? )?(express |intended )?beneficiar",
        r"(enforce|rely)[^.;]{0,60}(as if|as though)[^.;]{0,40}(party|parties)",
        veto=r"^(?!.*(except|other than|provided that|save as))(?=.*(\bno\b|\bnot\b|nothing|\bnone\b))",
    ),
}


#: Each rule's precision on CUAD's tune half, (right + 1) / (hits + 2), as ``benchmarks/cuad_tags.py``
#: measures it: a document's confidence is the mean over the tags it gets, so a rule that is often wrong
#: lowers the confidence of what it tags (calibration is scored by every suite).
TUNE_PRECISION: dict[str, float] = {
    "affiliate_license_licensee": 0.78,
    "affiliate_license_licensor": 0.89,
    "anti_assignment": 0.94,
    "audit_rights": 0.83,
    "cap_on_liability": 0.97,
    "change_of_control": 0.59,
    "competitive_restriction_exception": 0.37,
    "covenant_not_to_sue": 0.59,
    "exclusivity": 0.58,
    "insurance": 0.9,
    "ip_ownership_assignment": 0.57,
    "irrevocable_or_perpetual_license": 0.54,
    "joint_ip_ownership": 0.73,
    "license_grant": 0.87,
    "liquidated_damages": 0.67,
    "minimum_commitment": 0.77,
    "most_favored_nation": 0.58,
    "no_solicit_of_customers": 0.52,
    "no_solicit_of_employees": 0.68,
    "non_compete": 0.65,
    "non_disparagement": 0.5,
    "non_transferable_license": 0.8,
    "post_termination_services": 0.69,
    "price_restrictions": 0.19,
    "revenue_profit_sharing": 0.71,
    "rofr_rofo_rofn": 0.63,
    "source_code_escrow": 0.57,
    "termination_for_convenience": 0.78,
    "third_party_beneficiary": 0.75,
    "uncapped_liability": 0.62,
    "unlimited_all_you_can_eat_license": 0.57,
    "volume_restriction": 0.62,
    "warranty_duration": 0.54,
}
RULES = {name: replace(rule, confidence=TUNE_PRECISION[name]) for name, rule in RULES.items()}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def answers(tags: Sequence[LabelSpec]) -> bool:
    """Tell whether the rules answer this vocabulary: clause names they know, none with keywords."""
    return bool(tags) and all(not t.keywords and _key(t.name) in RULES for t in tags)


def _label_text(label: LabelSpec) -> str:
    name = label.name.replace("_", " ")
    return f"{name}: {label.description}" if label.description else name


def _closest(label: LabelSpec, hits: list[Span], enc: Encoder) -> Span:
    """The candidate nearest the label's description (the first one on a tie)."""
    pool = hits[:MAX_CANDIDATES]
    if len(pool) == 1:
        return pool[0]
    vecs = enc([_label_text(label), *(s.text for s in pool)])
    sims = vecs[1:] @ vecs[0]
    return pool[int(np.argmax(sims))]


def classify_clauses(
    doc: DocumentInput, kind: str, tags: Sequence[LabelSpec], enc: Encoder
) -> Classification:
    """Tag every clause type some sentence states; ``evidence[i]`` is the clause ``tags[i]`` rests on."""
    sents = clause_sentences(doc.text)
    chosen: list[tuple[str, float, Span, int]] = []
    stated: dict[str, bool] = {}

    def states(name: str) -> list[Span]:
        hits = [s for s, n in sents if RULES[name].states(n)]
        stated[name] = bool(hits)
        return hits

    for label in tags:
        rule = RULES[_key(label.name)]
        hits = states(_key(label.name))
        if hits and rule.requires and not any(stated[r] if r in stated else states(r) for r in rule.requires):
            hits = []
        if hits:
            chosen.append((label.name, rule.confidence, _closest(label, hits, enc), len(hits)))
    evidence: list[Quote] = [quote(doc.text, s.start, s.end) for _, _, s, _ in chosen]
    confidence = float(np.mean([c for _, c, _, _ in chosen])) if chosen else 0.5
    found = ", ".join(f"{n} ({k} clause{'s' if k > 1 else ''})" for n, _, _, k in chosen)
    return Classification(
        kind=kind,
        tags=[n for n, _, _, _ in chosen],
        confidence=round(confidence, 3),
        rationale=f"clause rules: {found}" if chosen else "clause rules: no clause of the given types",
        evidence=evidence,
    )
