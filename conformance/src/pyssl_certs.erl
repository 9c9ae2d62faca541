%% @doc Test certificates for the conformance scenarios, made with
%% `public_key:pkix_test_data/1' and written as PEM files to a temporary
%% directory, so that the file options (`certfile', `keyfile', `cacertfile')
%% are exercised and a bridge in another OS process can read them.
%%
%% Chains (each with a server and a client side):
%% <ul>
%% <li>`rsa': RSA 2048 root, one intermediate, peer; server SAN `localhost'
%%     and 127.0.0.1.</li>
%% <li>`ecdsa': the same with P-256 keys.</li>
%% <li>`expired': signed by the `rsa' roots, peer validity in 2020.</li>
%% <li>`unknown_ca': the same shape under roots nobody trusts.</li>
%% <li>`critical_ext': signed by the `rsa' roots, peer with an unknown critical
%%     extension.</li>
%% <li>`wrong_host': signed by the `rsa' roots, server SAN `other.example'.</li>
%% <li>`wildcard': signed by the `rsa' roots, server SAN `*.example.test'.</li>
%% <li>`revoked': signed by the `rsa' roots; {@link crl/1} gives a CRL of the
%%     server peer's issuer that lists it.</li>
%% </ul>
%% Keys are generated once (one RSA and one EC key pair per role) and reused by
%% every chain, and the whole set is made once per node (kept in
%% `persistent_term'), so that a conformance run pays for it only once.
-module(pyssl_certs).

-include_lib("public_key/include/public_key.hrl").

-export([ensure/0, ensure/1, dir/0, opts/2, der/2, file/3, chains/0, crl/0]).

-type chain() :: rsa | ecdsa | expired | unknown_ca | critical_ext | wrong_host | wildcard | revoked.
-type role() :: server | client.
-export_type([chain/0, role/0]).

-define(KEY, {?MODULE, certs}).

chains() -> [rsa, ecdsa, expired, unknown_ca, critical_ext, wrong_host, wildcard, revoked].

%% @doc The directory the files go to: `$TMPDIR/pyssl_conformance_certs_<OS pid>'.
-spec dir() -> file:filename().
dir() ->
    Tmp = case os:getenv("TMPDIR") of
              false -> "/tmp";
              "" -> "/tmp";
              T -> T
          end,
    filename:join(Tmp, "pyssl_conformance_certs_" ++ os:getpid()).

%% @doc Make the certificates (once per node) in {@link dir/0}.
-spec ensure() -> #{{chain(), role()} => map()}.
ensure() -> ensure(dir()).

-spec ensure(file:filename()) -> #{{chain(), role()} => map()}.
ensure(Dir) ->
    case persistent_term:get(?KEY, undefined) of
        #{dir := Dir, certs := Certs} ->
            Certs;
        _ ->
            Certs = make(Dir),
            persistent_term:put(?KEY, #{dir => Dir, certs => Certs}),
            Certs
    end.

%% @doc `[{certfile, F}, {keyfile, F}, {cacertfile, F}]' for one side of a chain.
-spec opts(chain(), role()) -> [{certfile | keyfile | cacertfile, file:filename()}].
opts(Chain, Role) ->
    #{certfile := C, keyfile := K, cacertfile := CA} = maps:get({Chain, Role}, ensure()),
    [{certfile, C}, {keyfile, K}, {cacertfile, CA}].

%% @doc One of `certfile', `keyfile', `cacertfile'.
-spec file(chain(), role(), certfile | keyfile | cacertfile) -> file:filename().
file(Chain, Role, Which) ->
    maps:get(Which, maps:get({Chain, Role}, ensure())).

%% @doc The DER of the peer certificate of one side (what `peercert/1' returns).
-spec der(chain(), role()) -> binary().
der(Chain, Role) ->
    maps:get(der, maps:get({Chain, Role}, ensure())).

%% @doc The CRL (DER) of the `revoked' server's issuer, listing that server.
-spec crl() -> binary().
crl() ->
    maps:get(crl, maps:get({revoked, server}, ensure())).

%%% Internals ------------------------------------------------------------------

make(Dir) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Rsa = public_key:generate_key({rsa, 2048, 65537}),
    Ec = public_key:generate_key({namedCurve, secp256r1}),
    RsaRoots = roots(Rsa, "pyssl conformance"),
    OtherRoots = roots(Rsa, "pyssl untrusted"),
    EcRoots = roots(Ec, "pyssl conformance ec"),
    Good = san(["localhost"]),
    Specs = [{rsa, RsaRoots, Rsa, [Good]},
             {ecdsa, EcRoots, Ec, [Good]},
             {expired, RsaRoots, Rsa, [Good, {validity, {{2020, 1, 1}, {2020, 2, 1}}}]},
             {unknown_ca, OtherRoots, Rsa, [Good]},
             {critical_ext, RsaRoots, Rsa, [critical(Good)]},
             {wrong_host, RsaRoots, Rsa, [san(["other.example"])]},
             {wildcard, RsaRoots, Rsa, [san(["*.example.test"])]},
             {revoked, RsaRoots, Rsa, [Good]}],
    Certs = maps:from_list(lists:append([chain(Dir, S) || S <- Specs])),
    %% every intermediate and peer is signed with the one RSA key: the CRL of the
    %% revoked server's issuer is signed with it too
    #{der := Revoked} = RevokedServer = maps:get({revoked, server}, Certs),
    Certs#{{revoked, server} := RevokedServer#{crl => crl(Revoked, Rsa)}}.

%% @doc A DER CRL of the issuer of `PeerDer', signed with `Key', listing `PeerDer'.
crl(PeerDer, Key) ->
    #'OTPCertificate'{tbsCertificate = #'OTPTBSCertificate'{issuer = Issuer, serialNumber = Serial}} =
        public_key:pkix_decode_cert(PeerDer, otp),
    PlainIssuer = public_key:der_decode('Name', public_key:pkix_encode('Name', Issuer, otp)),
    Alg = #'AlgorithmIdentifier'{algorithm = ?sha256WithRSAEncryption, parameters = <<5, 0>>},
    Now = calendar:datetime_to_gregorian_seconds(calendar:universal_time()),
    T = fun(Secs) -> {utcTime, utc(calendar:gregorian_seconds_to_datetime(Now + Secs))} end,
    TBS = #'TBSCertList'{version = v2, signature = Alg, issuer = PlainIssuer,
                         thisUpdate = T(-86400), nextUpdate = T(30 * 86400),
                         revokedCertificates =
                             [#'TBSCertList_revokedCertificates_SEQOF'{
                                 userCertificate = Serial, revocationDate = T(-3600),
                                 crlEntryExtensions = asn1_NOVALUE}],
                         crlExtensions = asn1_NOVALUE},
    Sig = public_key:sign(public_key:der_encode('TBSCertList', TBS), sha256, Key),
    public_key:der_encode('CertificateList',
                          #'CertificateList'{tbsCertList = TBS, signatureAlgorithm = Alg, signature = Sig}).

utc({{Y, Mo, D}, {H, Mi, S}}) ->
    lists:flatten(io_lib:format("~2..0w~2..0w~2..0w~2..0w~2..0w~2..0wZ", [Y rem 100, Mo, D, H, Mi, S])).

roots(Key, Name) ->
    {public_key:pkix_test_root_cert(Name ++ " server root", [{key, Key}, {digest, sha256}]),
     public_key:pkix_test_root_cert(Name ++ " client root", [{key, Key}, {digest, sha256}])}.

san(Names) ->
    {extensions, [#'Extension'{extnID = ?'id-ce-subjectAltName',
                               extnValue = [{dNSName, N} || N <- Names] ++
                                   [{iPAddress, <<127, 0, 0, 1>>}],
                               critical = false}]}.

%% An extension nobody knows, marked critical (private enterprise arc).
critical({extensions, Exts}) ->
    {extensions, [#'Extension'{extnID = {1, 3, 6, 1, 4, 1, 55555, 1, 1},
                               extnValue = <<5, 0>>,
                               critical = true} | Exts]}.

chain(Dir, {Name, {ServerRoot, ClientRoot}, Key, PeerExtra}) ->
    Common = [{key, Key}, {digest, sha256}],
    Inter = [Common],
    Validity = [V || {validity, _} = V <- PeerExtra],
    ClientPeer = Common ++ Validity ++
        [case Name of critical_ext -> critical({extensions, []}); _ -> {extensions, []} end],
    Data = public_key:pkix_test_data(
             #{server_chain => #{root => ServerRoot, intermediates => Inter,
                                 peer => Common ++ PeerExtra},
               client_chain => #{root => ClientRoot, intermediates => Inter,
                                 peer => ClientPeer}}),
    #{server_config := SConf, client_config := CConf} = Data,
    [{{Name, server}, write(Dir, Name, server, SConf)},
     {{Name, client}, write(Dir, Name, client, CConf)}].

write(Dir, Name, Role, Conf) ->
    Cert = proplists:get_value(cert, Conf),
    {KeyType, KeyDer} = proplists:get_value(key, Conf),
    CAs = proplists:get_value(cacerts, Conf),
    Base = filename:join(Dir, atom_to_list(Name) ++ "_" ++ atom_to_list(Role)),
    CertFile = Base ++ "_cert.pem",
    KeyFile = Base ++ "_key.pem",
    CAFile = Base ++ "_cacerts.pem",
    ok = file:write_file(CertFile, public_key:pem_encode([{'Certificate', Cert, not_encrypted}])),
    ok = file:write_file(KeyFile, public_key:pem_encode([{KeyType, KeyDer, not_encrypted}])),
    ok = file:write_file(CAFile,
                         public_key:pem_encode([{'Certificate', C, not_encrypted} || C <- CAs])),
    #{certfile => CertFile, keyfile => KeyFile, cacertfile => CAFile, der => Cert}.
