-- Hopmail's rule for rspamd (Debian's 3.4): smtp-ingress has already checked SPF, DKIM, DMARC
-- and ARC of a message from the outside (issue 12) and sends the results with the /checkv2
-- request as the headers Hopmail-SPF, Hopmail-DKIM, Hopmail-DMARC ("<result> [<policy>]") and
-- Hopmail-ARC (RFC 8601 result words). rspamd's protocol has no header of its own for them, but
-- keeps every request header for rules. This rule turns them into rspamd's own symbols, so the
-- packaged scores (scores.d/policies_group.conf), composites and the rest apply as if rspamd's
-- spf, dkim, dmarc and arc modules had run: those modules are off beside it (no second round
-- of DNS look-ups; their symbols would otherwise be registered twice). Without the headers
-- (submission, or INBOUND_AUTH off) the rule adds nothing.

local MAP = {
  ['Hopmail-SPF'] = {
    pass = 'R_SPF_ALLOW', fail = 'R_SPF_FAIL', softfail = 'R_SPF_SOFTFAIL', neutral = 'R_SPF_NEUTRAL',
    none = 'R_SPF_NA', temperror = 'R_SPF_DNSFAIL', permerror = 'R_SPF_PERMFAIL',
  },
  ['Hopmail-DKIM'] = {
    pass = 'R_DKIM_ALLOW', fail = 'R_DKIM_REJECT', neutral = 'R_DKIM_PERMFAIL', policy = 'R_DKIM_PERMFAIL',
    none = 'R_DKIM_NA', temperror = 'R_DKIM_TEMPFAIL', permerror = 'R_DKIM_PERMFAIL',
  },
  ['Hopmail-DMARC'] = {
    pass = 'DMARC_POLICY_ALLOW', none = 'DMARC_NA', temperror = 'DMARC_DNSFAIL', permerror = 'DMARC_BAD_POLICY',
    ['fail reject'] = 'DMARC_POLICY_REJECT', ['fail quarantine'] = 'DMARC_POLICY_QUARANTINE', ['fail none'] = 'DMARC_POLICY_SOFTFAIL',
    fail = 'DMARC_POLICY_SOFTFAIL',
  },
  ['Hopmail-ARC'] = {
    pass = 'ARC_ALLOW', fail = 'ARC_REJECT', none = 'ARC_NA', temperror = 'ARC_DNSFAIL', permerror = 'ARC_INVALID',
  },
}

local id = rspamd_config:register_symbol({
  name = 'HOPMAIL_AUTH_RESULTS',
  type = 'callback',
  score = 0.0,
  group = 'policies',
  description = 'authentication results smtp-ingress computed (request headers Hopmail-*)',
  callback = function(task)
    for header, symbols in pairs(MAP) do
      local v = task:get_request_header(header)
      if v then
        v = tostring(v):lower()
        -- A pass with a policy word ("pass reject") is a pass.
        local sym = symbols[v] or symbols[v:match('^(%S+)')]
        if sym then task:insert_result(sym, 1.0, header:sub(9):lower() .. '=' .. v) end
      end
    end
  end,
})

local seen = {}
for _, symbols in pairs(MAP) do
  for _, sym in pairs(symbols) do
    if not seen[sym] then
      seen[sym] = true
      rspamd_config:register_symbol({ name = sym, type = 'virtual', parent = id })
    end
  end
end
